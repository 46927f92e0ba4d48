"""Members' service records (党员服务记录): a member's own month on the phone, the grid's members for its leader
(any past month, exported), and the points (积分) and ranking the admin may turn on (both off by default)."""
import re
from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from fieldapp import inputs, rules
from fieldapp.access import roles_required
from fieldapp.clock import clock
from fieldapp.data import reminders, service
from fieldapp.db import get_db
from fieldapp.exports import downloads
from fieldapp.templating import render

bp = Blueprint("service", __name__, url_prefix="/service")

FIGURE_LABELS = {"contacts": _l("Contacts"), "attempts": _l("Attempts"),
                 "in_cycle": _l("Households contacted in cycle"),
          "raised": _l("Requests raised"), "followed_up": _l("Requests followed up"),
          "resolved": _l("Requests resolved"), "return_visits": _l("Return visits"), "photos": _l("Photos"),
          "answers": _l("Review questions answered")}
# The export's headers (Chinese, as every export's).
HEADERS = {"contacts": "联系", "attempts": "尝试未联系", "in_cycle": "周期内已联系住户", "raised": "提出诉求",
           "followed_up": "跟进诉求", "resolved": "办结诉求", "return_visits": "回访", "photos": "照片",
           "answers": "答复审核提问"}
MAX_WEIGHT = 100
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(raw, today, first_record):
    """The month asked for ("YYYY-MM", default this one) as {"key", "start", "end"} (end: its last day, or today
    for this month), and the problem with raw (None when it was fine)."""
    this = rules.month_period(today.year, today.month)
    current = {"key": today.strftime("%Y-%m"), "start": this[0], "end": today}
    raw = (raw or "").strip()
    if not raw:
        return current, None
    found = _MONTH.match(raw)
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < rules.EARLIEST_DAY.year:
        return current, _("Give a month as YYYY-MM, for example %(example)s.", example=current["key"])
    start, end = rules.month_period(int(found.group(1)), int(found.group(2)))
    if start > today:
        return current, _("%(month)s has not begun yet; showing this month.", month=raw)
    if first_record and end < first_record:
        return current, _("The records begin in %(month)s; showing this month.", month=first_record.strftime("%Y-%m"))
    return {"key": raw, "start": start, "end": min(end, today)}, None


def _month(db, now):
    """The month of ?month= and its problem, if any."""
    first = service.first_day(db)
    first_day = rules.parse_iso(first).astimezone(rules.clock_zone(now)).date() if first else None
    return parse_month(request.args.get("month"), date.fromisoformat(now["today"]), first_day)


def _bounds(now, month):
    """The UTC instants [start, end) of month's days."""
    tz = rules.clock_zone(now)
    return (rules.local_midnight_utc(month["start"], tz),
            rules.local_midnight_utc(month["end"] + timedelta(days=1), tz))


@bp.route("/mine")
@roles_required("member")
def mine():
    """My service record: the signed-in member's figures of a month (this one unless asked)."""
    db = get_db()
    now = clock(db)
    month, problem = _month(db, now)
    record = service.records(db, now, month, [current_user.id])[current_user.id]
    settings = service.points_settings(db)
    points = service.points(record, settings["weights"]) if settings["points"] else None
    return render("service/mine.html", record=record, month=month, problem=problem, labels_of=FIGURE_LABELS,
                  figures=service.FIGURES, points=points, max_month=now["today"][:7])


def grid_table(db, now, month, grid_id):
    """The members of grid_id (None: every grid) in month with their records and points, in name order, or
    ranked by points (then contacts) when the admin turned ranking on; and the points settings."""
    start, end = _bounds(now, month)
    members = service.grid_members(db, grid_id, start, end)
    found = service.records(db, now, month, [m["id"] for m in members])
    settings = service.points_settings(db)
    for member in members:
        member["record"] = found[member["id"]]
        member["points"] = service.points(member["record"], settings["weights"]) if settings["points"] else None
    if settings["ranking"]:
        members.sort(key=lambda m: (-(m["points"] or 0), -m["record"]["contacts"], m["display_name"], m["id"]))
        for rank, member in enumerate(members, 1):
            member["rank"] = rank
    return members, settings


def _grid():
    """The grid shown: a leader's own; for an admin the one of ?grid= (404 if unknown), every grid for
    ?grid=all, else the first grid (the whole district is the slow choice)."""
    db = get_db()
    grids = reminders.grids(db)
    if current_user.role == "leader":
        return current_user.grid_id, grids
    asked = request.args.get("grid")
    if asked == "all" or not grids:
        return None, grids
    if not asked:
        return grids[0]["id"], grids
    grid_id = inputs.record_id(asked)
    if grid_id not in {g["id"] for g in grids}:
        abort(404)
    return grid_id, grids


@bp.route("/")
@roles_required("leader", "admin")
def index():
    """The service records of the grid's members in a month, with the export."""
    db = get_db()
    now = clock(db)
    month, problem = _month(db, now)
    grid_id, grids = _grid()
    members, settings = grid_table(db, now, month, grid_id)
    return render("service/index.html", members=members, settings=settings, month=month, problem=problem,
                  labels_of=FIGURE_LABELS, figures=service.FIGURES, grid_id=grid_id, grids=grids,
                  max_month=now["today"][:7])


def export_tables(members, settings):
    """The table of the grid's members as one sheet, with Chinese headers."""
    columns = [("党员", "text"), ("账号", "text")] + [(HEADERS[f], "int") for f in service.FIGURES]
    if settings["points"]:
        columns.append(("积分", "text"))
    if settings["ranking"]:
        columns.insert(0, ("名次", "int"))
    table = []
    for member in members:
        row = [member["display_name"], member["username"]] + [member["record"][f] for f in service.FIGURES]
        if settings["points"]:
            row.append(member["points"])
        if settings["ranking"]:
            row.insert(0, member["rank"])
        table.append(tuple(row))
    return {"members": ("党员服务记录", columns, table)}


@bp.route("/export")
@roles_required("leader", "admin")
def export():
    """The month's service records as Excel or CSV, through the audited download."""
    db = get_db()
    now = clock(db)
    month, _problem = _month(db, now)
    grid_id, _grids = _grid()
    members, settings = grid_table(db, now, month, grid_id)
    return downloads.download_tables(f"service-records-{month['key']}", export_tables(members, settings), "members",
                                     target_type="service_records",
                                     detail={"month": month["key"], "grid": grid_id or "all"})


def parse_points(form):
    """Read the points form: ({"points", "ranking", "weights"}, errors by field); a weight is a number 0..100."""
    errors, weights = {}, {}
    for figure in service.FIGURES:
        raw = (form.get(f"weight_{figure}") or "").strip().replace("，", ".")
        try:
            weight = float(raw)
            if not 0 <= weight <= MAX_WEIGHT:
                raise ValueError
            weights[figure] = round(weight, 2)
        except ValueError:
            errors[f"weight_{figure}"] = _("Enter a number from 0 to %(n)d, for example 1 or 0.5.", n=MAX_WEIGHT)
    for flag in ("points", "ranking"):
        if form.get(flag, "") not in ("", "1"):
            errors[flag] = _("Tick the box or leave it empty.")
    return {"points": form.get("points") == "1", "ranking": form.get("ranking") == "1", "weights": weights}, errors


@bp.route("/points", methods=["GET", "POST"])
@roles_required("admin")
def points_settings():
    """Turn points and the ranking of members on or off, and set each figure's weight."""
    db = get_db()
    errors = {}
    if request.method == "POST":
        values, errors = parse_points(request.form)
        if not errors:
            changes = service.save_points_settings(db, **values, user_id=current_user.id, ip=request.remote_addr)
            flash(_("Settings saved.") if changes else _("Nothing was changed."), "info")
            return redirect(url_for("service.points_settings"))
    return render("service/points.html", known=service.points_settings(db), errors=errors, labels_of=FIGURE_LABELS,
                  figures=service.FIGURES, form=request.form if errors else None, status=422 if errors else 200)
