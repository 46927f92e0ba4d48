"""Privacy: the admin's audit search, one resident's data export, retention and anonymisation.

Also logs every view of a household's page (residents' names, tags, masked phones) in the audit log.
"""
import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import click
from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask.cli import with_appcontext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from fieldapp import inputs, offline, photostore, rules
from fieldapp.data import audit, users
from fieldapp.data import photos as photo_data
from fieldapp.data import privacy as held
from fieldapp.exports import downloads, tables
from fieldapp.access import roles_required
from fieldapp.db import get_db
from fieldapp.templating import render

bp = Blueprint("privacy", __name__, url_prefix="/privacy")
PAGE = 50
MAX_RETENTION_DAYS = 3650
# Pages that show a household's residents: each view goes to the audit log.
RESIDENT_PAGES = {"households.show": "household_id", "visits.new": "household_id"}
# What the audit log's action and record codes mean, for the admin who reads them.
ACTIONS = {
    "login": _l("Signed in"), "login_failed": _l("Sign-in failed"),
    "login_throttled": _l("Sign-in refused: too many failures"), "logout": _l("Signed out"),
    "session_expired": _l("Session ended"), "reveal_phone": _l("Phone number shown"),
    "view_household": _l("Household page opened"), "offline_copy": _l("Offline copy made"),
    "export": _l("Export"), "export_resident": _l("Resident's data exported"), "import": _l("Import"),
    "settings": _l("Settings changed"), "purge": _l("Residents anonymised"), "create_user": _l("Account created"),
    "disable_user": _l("Account disabled"), "enable_user": _l("Account enabled"),
    "reset_password": _l("Password reset"), "change_password": _l("Password changed"),
    "password_failed": _l("Wrong current password given"), "search": _l("Search by address, name or phone"),
    "password_throttled": _l("Password change refused: too many failures"),
    "assignment": _l("Cells assigned"), "view_photo": _l("Photo opened"),
}
RECORDS = {"household": _l("Household"), "resident": _l("Resident"), "user": _l("Account"), "cell": _l("Cell"),
           "settings": _l("Settings"), "request": _l("Request")}


@bp.after_app_request
def log_views(response):
    """Write each view of a page with residents' details to the audit log, unless an offline copy covers it."""
    if request.method != "GET" or response.status_code != 200 or not current_user.is_authenticated:
        return response
    if request.endpoint in RESIDENT_PAGES:
        household_id = request.view_args[RESIDENT_PAGES[request.endpoint]]
        # The offline copy fetches hundreds of pages: its one entry, logged with its manifest, names them all.
        # Only its token decides that, never what the client says about how it asked.
        if offline.copy_covers(get_db(), current_user, request.headers.get(offline.COPY_HEADER), household_id):
            return response
        audit.log(get_db(), user_id=current_user.id, action="view_household", target_type="household",
                  target_id=household_id, ip=request.remote_addr)
    return response


def purge(db, *, user_id=None, ip=None, via="web", now=None):
    """Anonymise the residents who moved out longer than the retention period ago, and delete the photos taken
    while their households lived there; return how many residents."""
    now = now or rules.utcnow()
    days = held.retention_days(db)
    cutoff = rules.iso(now - timedelta(days=days))
    due = held.due_for_anonymisation(db, cutoff)
    count = held.anonymise(db, due, rules.iso(now))
    photos = photo_data.delete(db, photostore.from_config(current_app.config), held.photos_due_for_deletion(db, cutoff))
    audit.log(db, user_id=user_id, action="purge", ip=ip,
              detail={"residents": count, "photos": photos, "retention_days": days, "via": via})
    return count


@bp.route("/")
@roles_required("admin")
def index():
    """What the app promises about personal data, the retention period and what is due for anonymisation."""
    db = get_db()
    days = held.retention_days(db)
    due = held.due_for_anonymisation(db, rules.iso(rules.utcnow() - timedelta(days=days)))
    return render("privacy/index.html", retention_days=days, due=len(due), errors={},
                  max_days=MAX_RETENTION_DAYS)


def retention_errors(raw):
    """What is wrong with a retention period typed in the form."""
    if inputs.whole_number(raw, low=30, high=MAX_RETENTION_DAYS) is None:
        return {"retention_days": _("A number of days from %(low)d to %(high)d.", low=30, high=MAX_RETENTION_DAYS)}
    return {}


@bp.route("/retention", methods=["POST"])
@roles_required("admin")
def retention():
    """Change how long residents who moved out are kept before they are anonymised."""
    db = get_db()
    raw = request.form.get("retention_days", "")
    errors = retention_errors(raw)
    if errors:
        return render("privacy/index.html", retention_days=raw, due=None, errors=errors,
                      max_days=MAX_RETENTION_DAYS, status=422)
    before = held.retention_days(db)
    held.set_retention_days(db, int(raw))
    audit.log(db, user_id=current_user.id, action="settings", target_type="settings",
              detail={"retention_days": [before, int(raw)]}, ip=request.remote_addr)
    flash(_("Residents who moved out are now anonymised after %(n)d days.", n=int(raw)), "info")
    return redirect(url_for("privacy.index"), code=303)


@bp.route("/purge", methods=["POST"])
@roles_required("admin")
def purge_now():
    """Anonymise now the residents whose retention period is over."""
    count = purge(get_db(), user_id=current_user.id, ip=request.remote_addr)
    flash(_("%(n)d resident(s) anonymised.", n=count), "info")
    return redirect(url_for("privacy.index"), code=303)


def parse_audit_filters(args, db):
    """The audit search's filters from args, and notices for the values that were ignored."""
    filters, notices = {}, []
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    if args.get("user", "").strip():
        account = users.by_username(db, args["user"])
        if account:
            filters["user_id"] = account["id"]
        else:
            notices.append(_("No account named %(name)s.", name=args["user"].strip()[:40]))
    if args.get("action"):
        filters["action"] = args["action"][:40]
    if args.get("target_type"):
        filters["target_type"] = args["target_type"][:40]
    if args.get("target_id", "").strip():
        if inputs.whole_number(args["target_id"]) is not None:
            filters["target_id"] = inputs.whole_number(args["target_id"])
        else:
            notices.append(_("The record number must be a number."))
    today, days = rules.today(tz), {}
    for key, label in (("from", _("From")), ("to", _("To"))):
        try:
            days[key] = inputs.day(args.get(key), label, today)
        except inputs.BadValue as error:
            notices.append(error.message)
    try:
        inputs.span(days.get("from"), days.get("to"), _("To"))
    except inputs.BadValue as error:
        notices.append(error.message)
        days.pop("to")
    for key, name, shift in (("from", "since", 0), ("to", "until", 1)):
        if days.get(key):
            filters[name] = rules.local_midnight_utc(days[key] + timedelta(days=shift), tz)
    if args.get("ip", "").strip():
        filters["ip"] = args["ip"].strip()[:45]
    if inputs.record_id(args.get("before")) is not None:
        filters["before"] = inputs.record_id(args.get("before"))
    return filters, notices


@bp.route("/audit")
@roles_required("admin")
def audit_log():
    """Search the audit log: who looked at or changed what, when, from where."""
    db = get_db()
    filters, notices = parse_audit_filters(request.args, db)
    entries = held.audit_search(db, **filters, limit=PAGE + 1)
    older = None
    if len(entries) > PAGE:
        entries = entries[:PAGE]
        args = {k: v for k, v in request.args.items() if k != "before"}
        older = url_for("privacy.audit_log", **args, before=entries[-1]["id"])
    for entry in entries:
        entry["detail"] = json.loads(entry["detail"] or "{}")
    return render("privacy/audit.html", "privacy/_audit_rows.html", entries=entries, older=older,
                  notices=notices, args=request.args, actions=held.audit_actions(db),
                  action_labels={code: str(label) for code, label in ACTIONS.items()},
                  record_labels={code: str(label) for code, label in RECORDS.items()})


@bp.route("/residents", methods=["GET", "POST"])
@roles_required("admin")
def residents():
    """Find a resident by name or phone, to export what is held about them (a POST: no name in the URL; the
    search is audited)."""
    db = get_db()
    search = request.form.get("q", "").strip()[:50] if request.method == "POST" else ""
    found = held.residents_matching(db, search) if search else []
    if search:
        audit.log(db, user_id=current_user.id, action="search", detail={
            "page": "privacy_residents", "query": search, "found": len(found)}, ip=request.remote_addr)
    return render("privacy/residents.html", search=search, found=found, mask=rules.mask_phone)


@bp.route("/residents/<int:resident_id>/export.<fmt>")
@roles_required("admin")
def export_resident(resident_id, fmt):
    """Everything held about one resident, as JSON or CSV, for their request to see it (audited)."""
    if fmt not in ("json", "csv"):
        abort(404)
    db = get_db()
    record = held.resident_record(db, resident_id)
    if record is None:
        abort(404)
    if fmt == "json":
        content = json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8")
    else:
        content = tables.csv_bytes(record_as_table(record))
    return downloads.download(content, f"resident-{resident_id}.{fmt}", action="export_resident",
                              target_type="resident", target_id=resident_id, detail={})


def record_as_table(record):
    """A resident's record as one table for the table writer: section, item number, field, value."""
    rows = []
    for section, content in record.items():
        items = content if isinstance(content, list) else [content or {}]
        for number, item in enumerate(items, start=1):
            for field, value in item.items():
                if isinstance(value, list):
                    value = ", ".join(map(str, value))
                rows.append((section, number, field, value))
    columns = [("section", "text"), ("item", "int"), ("field", "text"), ("value", "text")]
    return "resident", columns, rows


@click.command("purge")
@with_appcontext
@click.option("--dry-run", is_flag=True, help="Only say how many residents are due.")
def purge_command(dry_run):
    """Anonymise residents who moved out longer ago than the retention period (run it nightly)."""
    from fieldapp.data import db as database

    db = database.connect(current_app.config["DATABASE"])
    try:
        days = held.retention_days(db)
        if dry_run:
            due = held.due_for_anonymisation(db, rules.iso(rules.utcnow() - timedelta(days=days)))
            click.echo(f"{len(due)} resident(s) moved out more than {days} days ago; nothing changed (dry run).")
            return
        count = purge(db, via="cli")
        click.echo(f"{count} resident(s) who moved out more than {days} days ago anonymised.")
    finally:
        db.close()
