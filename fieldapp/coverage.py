"""The grid leader's dashboard and the coverage checklist: per grid, cell and member, in the current
cycle or a past period, contacted and attempted side by side; the not-visited lists; the unreachable households;
a printable checklist; CSV and Excel exports."""
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from fieldapp import access, figures, inputs, rules
from fieldapp.data import coverage, ledger, status
from fieldapp.data import photos as photo_data
from fieldapp.exports import downloads
from fieldapp.clock import clock
from fieldapp.db import get_db
from fieldapp.templating import render

bp = Blueprint("coverage", __name__, url_prefix="/coverage")

SHOWN = 300  # not-visited rows on one page; the export has them all
POLL_SECONDS = 15  # how often an open not-visited list looks for visits that landed
MEMBERS_SHOWN = 30  # members on the dashboard, the least active first; the rest on demand
UNREACHABLE_SHOWN = 20  # unreachable households on the dashboard, the most tried first


def ratio(visited, households):
    """The share of households visited, or None when there are none."""
    return visited / households if households else None


# visited: contacted; attempted: tried, not reached; with_photo: a visit in the period has a photo
COUNTED = ("households", "visited", "attempted", "with_photo")


def checklist(cells, numbers, holders):
    """Per grid: its cells and its members with households, visited (contacted), attempted, due and both shares
    (numbers per cell id)."""
    grids, by_cell = {}, {}
    for cell in cells:
        counted = numbers.get(cell["id"], {})
        row = {**cell, **{key: counted.get(key, 0) for key in COUNTED}, "members": []}
        grid = grids.setdefault(cell["grid_id"], {"id": cell["grid_id"], "name": cell["grid_name"], "cells": [],
                                                  "members": {}, **dict.fromkeys(COUNTED, 0)})
        grid["cells"].append(row)
        for key in COUNTED:
            grid[key] += row[key]
        by_cell[cell["id"]] = (grid, row)
    for holder in holders:
        grid, row = by_cell[holder["cell_id"]]
        row["members"].append(holder["display_name"])
        member = grid["members"].setdefault(holder["user_id"], {
            "id": holder["user_id"], "name": holder["display_name"], "cells": [], **dict.fromkeys(COUNTED, 0)})
        member["cells"].append(row["name"])
        for key in COUNTED:
            member[key] += row[key]
    result = list(grids.values())
    for grid in result:
        grid["members"] = sorted(grid["members"].values(), key=lambda m: (ratio(m["visited"], m["households"]) or 0, m["name"]))
        for entry in [grid, *grid["cells"], *grid["members"]]:
            shares(entry)
            entry["share"] = entry["attempted_share"] = None
        grid["share"], grid["attempted_share"] = share(grid["ratio"]), share(grid["attempted_ratio"])
    if len(result) == 1:  # the page shows cells and members only for one grid; several show one row per grid
        for entry in [*result[0]["cells"], *result[0]["members"]]:
            entry["share"], entry["attempted_share"] = share(entry["ratio"]), share(entry["attempted_ratio"])
    return result


def shares(entry):
    """Give a count of households, visited and attempted its due households and its two ratios; return it."""
    entry["due"] = entry["households"] - entry["visited"]
    entry["ratio"] = ratio(entry["visited"], entry["households"])
    entry["attempted_ratio"] = ratio(entry["attempted"], entry["households"])
    return entry


def share(value):
    """A ratio as the page shows it: the percentage text and the bar's level (None: no households)."""
    if value is None:
        return None
    return {"percent": f"{value * 100:.1f}%", "level": "low" if value < 0.6 else "mid" if value < 0.9 else "high"}


def row_texts():
    """The translated words of a household row, made once per page, not once per row (hundreds of rows)."""
    return {"overdue": _("%(n)d days overdue"), "visits": _("%(made)d of %(needed)d visits"),
            "last": _("Last visit %(day)s"), "cycle": _("cycle %(days)d days"), "who": _("Responsible: %(who)s"),
            "never": _("Never visited"), "due": _("due for %(n)d days"), "visited": _("Visited"),
            "ago": _("last visit %(day)s, %(n)d days ago"), "no_visit": _("no visit recorded"),
            "not_visited": _("Not visited"), "attempted_once": _("attempted once"),
            "attempted": _("attempted %(n)d times")}


def _period_problem(code, args):
    """What is wrong with the first and last day of a period (BadPeriod's code), naming the field to correct."""
    first, last = _("First day"), _("Last day")
    if code == "dates":
        return _("%(field)s: give both the first and the last day.", field=last if args.get("start") else first)
    if code == "order":
        return _("%(field)s: not before the first day.", field=last)
    if code == "future":
        return _("%(field)s: after today; nothing is known yet.", field=first)
    if code == "early":
        return _("%(field)s: give a date from %(first)s on.", field=first, first=rules.EARLIEST_DAY.isoformat())
    return _("%(field)s: a period holds at most %(n)d days.", field=last, n=rules.MAX_PERIOD_DAYS)


def _instant(raw):
    """A UTC timestamp from the query string, as stored, or None when it is not one (or not in a sane range)."""
    try:
        moment = rules.parse_iso((raw or "").strip())
    except (ValueError, OverflowError):
        return None
    return rules.iso(moment) if rules.EARLIEST_DAY.year <= moment.year <= 9000 else None


def _page_start():
    """What every coverage page starts from: the request's database, its clock and the period asked for (with
    notices on what could not be read)."""
    db = get_db()
    now = clock(db)
    period, notices = _period(request.args, date.fromisoformat(now["today"]))
    return db, now, period, notices


def _period(args, today):
    """The period asked for in args, or the current cycle with a notice saying what cannot be read."""
    try:
        start = inputs.day(args.get("start"), _("First day"), today)
        end = inputs.day(args.get("end"), _("Last day"), today)
        return rules.parse_period(args.get("period"), today, start, end), []
    except inputs.BadValue as error:
        problem = error.message
    except rules.BadPeriod as error:
        if error.args[0] == "month":
            return rules.parse_period("current", today), [_("That period cannot be reviewed; showing the current cycle.")]
        problem = _period_problem(error.args[0], args)
    return rules.parse_period("current", today), [_("%(problem)s Showing the current cycle.", problem=problem)]


def _grid_asked():
    """The grid the page is narrowed to (?grid=), or None for the whole scope."""
    return inputs.record_id(request.args.get("grid"))


def _moment(period):
    """The UTC instant whose assignments count: now for the current cycle, else the period's end."""
    if period["kind"] == "current":
        return rules.iso(rules.utcnow())
    return rules.local_midnight_utc(period["end"] + timedelta(days=1), ZoneInfo(current_app.config["TIMEZONE"]))


def report(db, now, period, cell_ids, holders=None):
    """The checklist of cell_ids (None: all) for period, grouped per grid (holders: who held the cells then)."""
    numbers = (coverage.current_by_cell(db, now, cell_ids) if period["kind"] == "current"
               else coverage.period_by_cell(db, now, period, cell_ids))
    if holders is None:
        holders = coverage.holders(db, cell_ids, _moment(period))
    by_cell = {r["cell_id"]: dict(r) for r in numbers}
    for cell_id, count in photo_data.households_with_photo(db, cell_ids, *_window(now, period)).items():
        by_cell.setdefault(cell_id, {})["with_photo"] = count
    return checklist(coverage.cells(db, cell_ids), by_cell, holders)


def _window(now, period):
    """The UTC instants [since, until) of period's visits: the default cycle up to now for the current one."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    if period["kind"] == "current":
        today = date.fromisoformat(now["today"])
        return rules.local_midnight_utc(today - timedelta(days=now["default_cycle"] - 1), tz), None
    return (rules.local_midnight_utc(period["start"], tz),
            rules.local_midnight_utc(period["end"] + timedelta(days=1), tz))


def not_visited_rows(db, now, period, cell_ids, limit=None):
    """The households of cell_ids not covered in period, the most overdue first (the first `limit` of
    them), with who holds their cell. Each row carries the total number of such households."""
    found = (coverage.not_visited(db, now, cell_ids, limit) if period["kind"] == "current"
             else coverage.not_visited_in_period(db, now, period, cell_ids, limit))
    cell_ids_found = sorted({h["cell_id"] for h in found})
    names = {}
    for holder in coverage.holders(db, cell_ids_found, _moment(period)):
        names.setdefault(holder["cell_id"], []).append(holder["display_name"])
    cell_names = {c["id"]: c for c in coverage.cells(db, cell_ids_found)}
    if period["kind"] == "current":  # this cycle's attempts, for the shown rows in one query
        tried = status.attempt_days(db, now, found)
        for household in found:
            household["attempts"] = len(tried.get(household["id"], []))
    for household in found:
        household["responsible"] = "、".join(names.get(household["cell_id"], []))
        household["cell"] = cell_names[household["cell_id"]]
    return found


def member_activity(db, now, holders, limit=None):
    """The members of holders (who holds which cell now) with their visits in the last 7 and 30 days,
    the least active first; the first `limit` of them (None: all) with their last visit's day."""
    today = date.fromisoformat(now["today"])
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    member_ids = sorted({h["user_id"] for h in holders})
    busy = coverage.visits_per_member(db, member_ids, rules.local_midnight_utc(today - timedelta(days=6), tz),
                                      rules.local_midnight_utc(today - timedelta(days=29), tz))
    members = {}
    for holder in holders:
        members.setdefault(holder["user_id"], {"id": holder["user_id"], "name": holder["display_name"],
                                               "week": busy[holder["user_id"]]["week"],
                                               "month": busy[holder["user_id"]]["month"],
                                               "last_visit_at": busy[holder["user_id"]]["last_visit_at"]})
    found = sorted(members.values(), key=lambda m: (m["week"], m["month"], m["name"]))
    for member in found[:limit]:
        seen = member["last_visit_at"]
        member["last_visit_day"] = rules.local_date(seen, tz) if seen else None
    return found


@bp.route("/")
@login_required
def index():
    """The dashboard (coverage now, requests, visits per member) and the checklist of a period."""
    db, now, period, notices = _page_start()
    today = date.fromisoformat(now["today"])
    cell_ids = access.cells_in_view(db, current_user, _grid_asked())
    holders = coverage.holders(db, cell_ids, rules.iso(rules.utcnow()))
    current = rules.parse_period("current", today)
    grids = report(db, now, period, cell_ids, holders if period["kind"] == "current" else None)
    current_grids = grids if period["kind"] == "current" else report(db, now, current, cell_ids, holders)
    totals = shares({key: sum(g[key] for g in current_grids) for key in COUNTED})
    unreachable = unreachable_rows(db, now, cell_ids, UNREACHABLE_SHOWN)
    everyone = request.args.get("members") == "all"
    members = member_activity(db, now, holders, None if everyone else MEMBERS_SHOWN)
    args = {k: v for k, v in request.args.items() if k in ("period", "start", "end", "grid") and v}
    # The whole community's charts read half a year of every visit (seconds on 100,000 households): an admin's
    # dashboard draws them when asked; a grid's always.
    drawn = current_user.role in ("leader", "admin") and (cell_ids is not None or request.args.get("charts") == "1")
    charts = figures.dashboard(db, now, cell_ids) if drawn else []
    return render("coverage/index.html", "coverage/_checklist.html", grids=grids, charts=charts, period=period, notices=notices,
                  months=rules.recent_months(today), args=args, totals=totals,
                  requests=ledger.status_counts(db, cell_ids, now["today"]),
                  members=members if everyone else members[:MEMBERS_SHOWN],
                  members_total=len(members), unreachable=unreachable,
                  unreachable_total=unreachable[0]["total"] if unreachable else 0,
                  attempts_needed=now["unreachable_attempts"])


def unreachable_rows(db, now, cell_ids, limit=None):
    """The unreachable households of cell_ids (still due, tried the setting's number of times or more this
    cycle), the most tried first, with their cell."""
    found = coverage.unreachable(db, now, cell_ids, limit)
    cell_names = {c["id"]: c for c in coverage.cells(db, sorted({h["cell_id"] for h in found}))}
    for household in found:
        household["cell"] = cell_names[household["cell_id"]]
    return found


@bp.route("/not-visited")
@login_required
def not_visited():
    """The households not yet visited in a cell, of a member, or of the whole scope; ticks as visits land."""
    db, now, period, notices = _page_start()
    cell = member = None
    cell_id, member_id = inputs.record_id(request.args.get("cell")), inputs.record_id(request.args.get("member"))
    if cell_id is not None:
        cell = access.cell_or_404(db, current_user, cell_id)
        cell_ids = [cell["id"]]
    elif member_id is not None:
        member, cell_ids = access.reviewed_member_or_404(db, current_user, member_id, _moment(period))
    else:
        cell_ids = access.cells_in_view(db, current_user, _grid_asked())
    found = not_visited_rows(db, now, period, cell_ids, SHOWN)
    since = _instant(request.args.get("since")) or rules.iso(rules.utcnow())
    # The rows shown when the page opened: those visited since leave the list and get a tick.
    opened = request.args.get("shown", "")
    shown = [h["id"] for h in found]
    if opened:  # ids from the query string: only those of this page's cells in the user's scope are read
        named = [i for i in map(inputs.record_id, opened.split(",")[:SHOWN]) if i is not None]
        shown = access.households_in_scope(db, current_user, named, cell_ids)
    landed = []
    if period["kind"] == "current" and shown:
        waiting = {h["id"] for h in found}
        landed = [h for h in coverage.visited_since(db, shown, since, cell_ids) if h["id"] not in waiting]
    args = {k: v for k, v in request.args.items() if k in ("cell", "member", "grid", "period", "start", "end")}
    return render("coverage/not_visited.html", "coverage/_not_visited.html", households=found,
                  total=found[0]["total"] if found else 0, landed=landed, since=since, cell=cell, member=member,
                  period=period, notices=notices, poll=POLL_SECONDS, text=row_texts(), args=args,
                  shown=",".join(map(str, shown)))


@bp.route("/print")
@login_required
def print_view():
    """The checklist to print: one cell per page, its households not visited, a line for the leader to sign."""
    db, now, period, notices = _page_start()
    cell_ids = access.printed_cells(db, current_user, _grid_asked())
    if cell_ids is None:  # an admin chooses a grid first
        grids = {c["grid_id"]: c["grid_name"] for c in coverage.cells(db, None)}
        return render("coverage/print.html", grids=[], choose=grids, period=period, notices=notices)
    grids = report(db, now, period, cell_ids)
    by_cell = {}
    for household in not_visited_rows(db, now, period, cell_ids):
        by_cell.setdefault(household["cell_id"], []).append(household)
    return render("coverage/print.html", grids=grids, by_cell=by_cell, choose=None, period=period, notices=notices,
                  printed_at=rules.utcnow())


def export_tables(db, now, period, cell_ids):
    """The checklist as three tables (cells, members, households not visited) with Chinese headers: contacted
    (已联系) and attempted without contact (已尝试未联系) side by side."""
    grids = report(db, now, period, cell_ids)
    current = period["kind"] == "current"
    counted = [("住户数", "int"), ("已联系", "int"), ("已尝试未联系", "int"), ("未走访", "int"), ("联系率", "percent"),
               ("尝试率", "percent")]

    def numbers(entry):
        return (entry["households"], entry["visited"], entry["attempted"], entry["due"], entry["ratio"],
                entry["attempted_ratio"])

    cells = ("微网格覆盖", [("网格", "text"), ("微网格编号", "text"), ("微网格", "text"), ("负责党员", "text"), *counted],
             [(g["name"], c["code"], c["name"], "、".join(c["members"]), *numbers(c)) for g in grids for c in g["cells"]])
    members = ("党员覆盖", [("网格", "text"), ("党员", "text"), ("负责微网格", "text"), *counted],
               [(g["name"], m["name"], "、".join(m["cells"]), *numbers(m)) for g in grids for m in g["members"]])
    found = not_visited_rows(db, now, period, cell_ids)
    columns = [("网格", "text"), ("微网格", "text"), ("地址", "text"), ("走访周期（天）", "int"),
               ("最近走访日期", "date"), ("最近走访人", "text"), ("负责党员", "text")]
    columns += ([("逾期天数", "int"), ("本周期尝试次数", "int"), ("最近联系日期", "date")] if current
                else [("本期联系次数", "int"), ("应联系次数", "int"), ("本期尝试次数", "int")])
    households = ("未走访住户", columns, [
        (h["cell"]["grid_name"], h["cell"]["name"], h["address"], h["cycle_days"],
         h["last_visit_day"],
         h["last_visit_by"] if current else None, h["responsible"],
         *([h["days_overdue"], h["attempts"], h["last_contact_day"]] if current
           else [h["visits"], h["needed"], h["attempts"]])) for h in found])
    return {"cells": cells, "members": members, "households": households}


@bp.route("/export")
@login_required
def export():
    """The checklist of the user's scope and the chosen period as Excel (three sheets) or CSV (one table)."""
    db, now, period, _notices = _page_start()
    cell_ids = access.cells_in_view(db, current_user, _grid_asked())
    name = f"coverage-{period['key'] if period['kind'] != 'current' else now['today']}"
    return downloads.download_tables(name, export_tables(db, now, period, cell_ids), "cells", target_type="coverage",
                                     detail={"period": period["key"], "scope": downloads.scope(cell_ids)},
                                     personal={"households"})  # addresses and who visited them
