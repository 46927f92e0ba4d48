"""Accountability (问责): who is late. Overdue requests by responsible person and by cell, members with
no visit in 14 days, households due for longer than a full cycle; as a page and as CSV or Excel."""
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app
from flask_babel import force_locale
from flask_login import current_user

from fieldapp import access, rules
from fieldapp.coverage import row_texts
from fieldapp.data import coverage, ledger, partners
from fieldapp.exports import downloads
from fieldapp.i18n import LABELS
from fieldapp.access import roles_required
from fieldapp.clock import clock
from fieldapp.db import get_db
from fieldapp.templating import render

bp = Blueprint("accountability", __name__, url_prefix="/overdue")

IDLE_DAYS = 14  # a member with no visit for this long is named
SHOWN = 200  # long-due households on the page; the export has them all
SHOWN_GROUPS = 100  # people and cells with late requests on the page, the most late first; the export has all


def overdue_report(db, now, cell_ids, limit=None):
    """What the overdue page shows for cell_ids (None: the whole district); limit: long-due households."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    today = date.fromisoformat(now["today"])
    holders = coverage.holders(db, cell_ids, rules.iso(rules.utcnow()))
    cells_of, names = {}, {}
    for holder in holders:
        cells_of.setdefault(holder["user_id"], []).append(holder["cell_id"])
        names.setdefault(holder["cell_id"], []).append(holder["display_name"])
    last = coverage.last_visit_per_member(db, sorted(cells_of))
    idle = []
    for holder in {h["user_id"]: h for h in holders}.values():
        seen = last.get(holder["user_id"])
        day = rules.local_date(seen, tz) if seen else None
        days = (today - day).days if day else None
        if days is None or days >= IDLE_DAYS:
            idle.append({"id": holder["user_id"], "name": holder["display_name"], "last_visit_at": seen,
                         "last_visit_day": day, "days": days, "cells": len(cells_of[holder["user_id"]])})
    idle.sort(key=lambda m: (m["days"] is not None, -(m["days"] or 0), m["name"]))
    long_due = coverage.long_overdue(db, now, cell_ids, limit)
    for household in long_due:
        household["responsible"] = "、".join(names.get(household["cell_id"], []))
    by_person = ledger.overdue_groups(db, cell_ids, now["today"], "person")
    late_referrals = partners.late(db, cell_ids, now["today"])
    return {"by_person": by_person, "by_cell": ledger.overdue_groups(db, cell_ids, now["today"], "cell"),
            "late_referrals": late_referrals, "by_platform": partners.late_by_partner(late_referrals),
            "late_total": sum(g["requests"] for g in by_person), "idle": idle, "long_due": long_due,
            "long_due_total": long_due[0]["total"] if long_due else 0, "since_idle": today - timedelta(days=IDLE_DAYS)}


@bp.route("/")
@roles_required("leader", "admin")
def index():
    """The overdue page of the leader's grid (the admin's district)."""
    db = get_db()
    now = clock(db)
    found = overdue_report(db, now, access.cell_scope(db, current_user), SHOWN)
    return render("ledger/overdue.html", **found, shown=SHOWN, shown_groups=SHOWN_GROUPS, idle_days=IDLE_DAYS,
                  text=row_texts())


def export_tables(db, now, found):
    """The overdue page as tables with Chinese headers, dates as dates and numbers as numbers; found is
    overdue_report's answer without a limit."""
    today = date.fromisoformat(now["today"])
    found["late"] = ledger.overdue(db, found["cell_ids"], now["today"])
    for item in found["late"]:
        item["days_late"] = rules.days_late(date.fromisoformat(item["due_date"]), today)
    with force_locale("zh"):
        late = ("逾期诉求", [("编号", "int"), ("微网格", "text"), ("地址", "text"), ("类别", "text"), ("诉求", "text"),
                            ("状态", "text"), ("负责人", "text"), ("截止日期", "date"), ("逾期天数", "int"),
                            ("转介", "text")],
                [(q["id"], q["cell_name"], q["address"], str(LABELS["category"][q["category"]]), q["description"],
                  str(LABELS["request_status"][q["status"]]), q["responsible"], q["due_date"], q["days_late"],
                  str(LABELS["referral"][q["referral"]]) if q["referral"] else None) for q in found["late"]])
    people = ("按负责人", [("负责人", "text"), ("逾期件数", "int"), ("最长逾期天数", "int"), ("逾期天数合计", "int")],
              [(g["name"] or "—", g["requests"], g["most_late"], g["days_late"]) for g in found["by_person"]])
    cells = ("按微网格", [("微网格", "text"), ("逾期件数", "int"), ("最长逾期天数", "int"), ("逾期天数合计", "int")],
             [(g["name"], g["requests"], g["most_late"], g["days_late"]) for g in found["by_cell"]])
    idle = (f"{IDLE_DAYS}天未走访党员", [("党员", "text"), ("负责微网格数", "int"), ("最近走访日期", "date"),
                                      ("未走访天数", "int")],
            [(m["name"], m["cells"], m["last_visit_day"], m["days"]) for m in found["idle"]])
    households = ("超一个周期未走访住户", [("微网格", "text"), ("地址", "text"), ("走访周期（天）", "int"),
                                        ("最近走访日期", "date"), ("应走访日期", "date"), ("已到期天数", "int"),
                                        ("负责党员", "text")],
                  [(h["cell_name"], h["address"], h["cycle_days"], h["last_visit_day"], h["due_since"], h["days_due"],
                    h["responsible"]) for h in found["long_due"]])
    platforms = ("转介超时", [("服务平台", "text"), ("诉求编号", "int"), ("地址", "text"), ("超时原因", "text"),
                           ("接收期限", "date"), ("答复期限", "date"), ("超时天数", "int")],
                 [(r["partner_name"], r["request_id"], r["address"], {"accept": "未按时接收", "answer": "未按时答复"}[r["why"]],
                   r["accept_by"], r["answer_by"], r["days_late"]) for r in found["late_referrals"]])
    return {"requests": late, "people": people, "cells": cells, "members": idle, "households": households,
            "platforms": platforms}


@bp.route("/export")
@roles_required("leader", "admin")
def export():
    """The overdue page as Excel (every table a sheet) or one table as CSV."""
    db = get_db()
    now = clock(db)
    cell_ids = access.cell_scope(db, current_user)
    tables = export_tables(db, now, {**overdue_report(db, now, cell_ids), "cell_ids": cell_ids})
    return downloads.download_tables(f"overdue-{now['today']}", tables, "requests", target_type="overdue",
                                     detail={"day": now["today"], "scope": downloads.scope(cell_ids)},
                                     personal={"requests"})  # descriptions typed at the door
