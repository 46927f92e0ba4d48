"""Triage (分拣): residents' new reports for the members of their building's cell and the grid leader — linked to
a household or kept on the building (or cell) with a category and due date, or closed as a duplicate of an open
request or as not a matter for the community, each with an optional reply to the resident."""
from datetime import date

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from fieldapp import access, inputs, rules
from fieldapp.clock import clock
from fieldapp.data import audit, cells, ledger, reports
from fieldapp.data import requests as request_data
from fieldapp.db import get_db
from fieldapp.ledger import _due_date
from fieldapp.templating import render

bp = Blueprint("triage", __name__, url_prefix="/triage")

OUTCOMES = ("accepted", "duplicate", "not_ours")
MAX_REPLY = 1000


def _list(db, errors=None, form=None, status=200):
    """The triage list of the user's scope, with errors at the report whose triage was refused."""
    now = clock(db)
    scope = access.cell_scope(db, current_user)
    found = reports.waiting(db, scope, rules.utcnow())
    if any(r["name"] or r["phone"] for r in found):  # a resident's call-back contact was shown
        audit.log(db, user_id=current_user.id, action="view", target_type="resident_reports",
                  detail={"page": "triage", "reports": [r["id"] for r in found if r["name"] or r["phone"]]},
                  ip=request.remote_addr)
    return render("triage/index.html", reports=found, count=reports.waiting_count(db, scope),
                  categories=request_data.categories(db), today=now["today"], errors=errors or {},
                  form=form or {}, status=status)


@bp.route("/")
@login_required
def index():
    """The residents' reports waiting for triage in the user's cells (a leader: the grid; admins: all)."""
    return _list(get_db())


def parse_triage(form, *, report, categories, today, households):
    """Check a triage. Returns (values, errors by field)."""
    errors, values = {}, {}
    outcome = form.get("outcome")
    if outcome not in OUTCOMES:
        errors["outcome"] = _("Choose what to do with the report.")
    reply = (form.get("reply") or "").strip()
    if len(reply) > MAX_REPLY:
        errors["reply"] = _("At most %(n)d characters.", n=MAX_REPLY)
    elif outcome in ("duplicate", "not_ours") and not reply:
        errors["reply"] = _("Closing a report needs a reply to the resident: say why.")
    values["reply"] = reply or None
    if outcome == "accepted":
        known = {c["code"]: c for c in categories}
        if form.get("category") not in known:
            errors["category"] = _("Choose a category for the request.")
        values["category"] = form.get("category")
        if form.get("due_date"):
            due = _due_date(form.get("due_date"), today, errors)
        elif values["category"] in known:
            due = rules.request_due_date(today, known[values["category"]]["due_days"])
        else:
            due = None
        values["due_date"] = due.isoformat() if due else None
        place = form.get("place") or "keep"
        if place != "keep":
            household_id = inputs.record_id(place)
            if household_id not in {h["id"] for h in households}:
                errors["place"] = _("Choose a household of this building, or keep the report on the building.")
            values["household_id"] = household_id
    elif outcome == "duplicate":
        values["duplicate_of"] = inputs.record_id(form.get("duplicate_of"))
        if values["duplicate_of"] is None or values["duplicate_of"] == report["id"]:
            errors["duplicate_of"] = _("Name the open request this report repeats (its number).")
    return outcome, values, errors


@bp.route("/<int:request_id>", methods=["POST"])
@login_required
def decide(request_id):
    """Triage one waiting report; a refusal changes nothing and shows why at the report."""
    db = get_db()
    scope = access.cell_scope(db, current_user)
    report = reports.waiting_report(db, request_id)
    if report is None or not access.may_see_cell(db, current_user, report["place_cell"]):
        abort(404)
    today = date.fromisoformat(clock(db)["today"])
    households = reports.building_households(db, report["building_id"]) if report["building_id"] else []
    outcome, values, errors = parse_triage(request.form, report=report, categories=request_data.categories(db),
                                           today=today, households=households)
    if outcome == "duplicate" and not errors and reports.duplicate_target(db, values["duplicate_of"], scope) is None:
        errors["duplicate_of"] = _("Request %(n)d is not an open request you may see.", n=values["duplicate_of"])
    version = inputs.whole_number(request.form.get("version"))
    if version is None:
        errors["version"] = _("The form is incomplete; reload the page.")
    if errors:
        return _list(db, {request_id: errors}, request.form, status=422)
    if outcome == "accepted":
        at = rules.iso(rules.utcnow())
        members = [m["id"] for m in cells.responsible_members(db, report["place_cell"], at)]
        values["responsible_user_id"] = current_user.id if current_user.id in members or not members else members[0]
    try:
        reports.triage(db, request_id, outcome, user_id=current_user.id, at=rules.iso(rules.utcnow()),
                       version=version, **values)
    except ledger.StaleRequest:
        flash(_("Someone triaged or changed this report meanwhile, so nothing was saved."), "info")
        return redirect(url_for("triage.index"))
    flash({"accepted": _("Report entered in the ledger."), "duplicate": _("Report closed as a duplicate."),
           "not_ours": _("Report closed: not a matter for the community.")}[outcome], "info")
    if outcome == "accepted":
        return redirect(url_for("ledger.show", request_id=request_id))
    return redirect(url_for("triage.index"))


@bp.route("/<int:request_id>/contact", methods=["POST"])
@login_required
def contact(request_id):
    """Show the full call-back phone a resident left, on a deliberate tap that is written to the audit log."""
    db = get_db()
    access.request_or_404(db, current_user, request_id)
    found = reports.contact(db, request_id)
    if found is None:
        abort(404)
    audit.log(db, user_id=current_user.id, action="reveal_phone", target_type="resident_report",
              target_id=request_id, ip=request.remote_addr)
    return render("triage/_contact.html", "triage/_contact.html", contact=found, revealed=True)


@bp.app_template_global()
def report_contact(request_id):
    """The call-back contact of a resident's report, its phone masked, for the request's page; None if none."""
    found = reports.contact(get_db(), request_id)
    if found is None or not (found["name"] or found["phone"]):
        return None
    return {**found, "phone": rules.mask_phone(found["phone"])}


@bp.app_template_global()
def waiting_reports():
    """How many residents' reports wait for the signed-in user's triage (for the ledger's link)."""
    if not current_user.is_authenticated:
        return 0
    db = get_db()
    return reports.waiting_count(db, access.cell_scope(db, current_user))
