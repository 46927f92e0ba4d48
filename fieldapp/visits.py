"""Recording a visit at the door: the form, saving it once, and amending it (checks in visitform.py)."""
import uuid as uuidlib

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from fieldapp import access, registerform, rules
from fieldapp import register as register_view
from fieldapp.data import households, requests, review, visits
from fieldapp.data import register as register_data
from fieldapp.db import get_db
from fieldapp.templating import render
from fieldapp.visitform import parse_amendment, parse_visit, payload_digest

bp = Blueprint("visits", __name__, url_prefix="/households/<int:household_id>/visits")


def _context(db, household):
    """What the visit form shows besides the member's input."""
    return {"household": household, "residents": households.residents(db, household["id"]),
            "open_requests": requests.followable_for_household(db, household["id"]),
            "categories": requests.categories(db), **register_view.visit_context(db, household)}


@bp.route("/new")
@login_required
def new(household_id):
    """The visit form; the phone captures its location when it opens."""
    db = get_db()
    household = access.household_or_404(db, current_user, household_id)
    return render("visits/form.html", **_context(db, household), errors={}, form=MultiDict(),
                  visit_uuid=str(uuidlib.uuid4()))


@bp.route("", methods=["POST"])
@login_required
def create(household_id):
    """Save a visit once: a resend of the same form (double tap, retry) records nothing new."""
    db = get_db()
    household = access.household_or_404(db, current_user, household_id)
    known = visits.by_uuid(db, request.form.get("uuid", ""))
    if known and known["household_id"] == household_id:  # a double tap or a retry
        same = known["payload_sha256"] == payload_digest(request.form, household_id)
        if not same:
            body = {k: v for k, v in request.form.to_dict(flat=False).items() if k != "csrf_token"}
            visits.record_conflict(db, uuid=known["uuid"], visit_id=known["id"], user_id=current_user.id,
                                   received_at=rules.iso(rules.utcnow()), body=body)
        return _saved("existing" if same else "conflict", household_id, known["id"])
    if request.form.get("save") == "changes":
        return _changes_only(db, household)
    context = _context(db, household)
    visit, new_requests, followups, errors = parse_visit(
        request.form, household=household, residents=context["residents"],
        open_requests=context["open_requests"], categories=context["categories"],
        now=rules.utcnow(), user_id=current_user.id, config=current_app.config)
    changes, change_errors = register_view.visit_changes(db, request.form, household)
    errors.update(change_errors)
    if errors:
        return render("visits/form.html", **context, errors=errors, form=request.form,
                      visit_uuid=request.form.get("uuid") or str(uuidlib.uuid4()), status=422)
    try:
        result, visit_id, _changes = register_data.record_visit(db, visit, new_requests, followups, changes,
                                                               ip=request.remote_addr)
    except rules.IllegalTransition:
        # Someone changed a request while the form was open: show the form again with today's requests.
        context = _context(db, household)
        errors = {"followups": _("A request changed meanwhile; check the follow-ups and save again.")}
        return render("visits/form.html", **context, errors=errors, form=request.form,
                      visit_uuid=visit["uuid"], status=409)
    return _saved(result, household_id, visit_id)


def _changes_only(db, household):
    """Save the form's register changes without a visit (learnt by a call, from a neighbour): each applied once."""
    changes, errors = register_view.visit_changes(db, request.form, household)
    if not changes and not errors and register_data.any_recorded(db, registerform.form_change_uuids(request.form)):
        flash(_("These changes were already saved."), "info")  # a double tap, a retry
        return redirect(url_for("households.show", household_id=household["id"], _anchor="residents"))
    if not changes and not errors:
        errors["register-changes"] = _("Nothing to save: change a resident first, or save the visit.")
    if errors:
        return render("visits/form.html", **_context(db, household), errors=errors, form=request.form,
                      visit_uuid=request.form.get("uuid") or str(uuidlib.uuid4()), status=422)
    results = register_data.record_all(db, changes, ip=request.remote_addr)
    if any(result == "conflict" for result, _id in results):
        flash(_("Someone changed this meanwhile: your change is kept for the grid leader's review."), "error")
    else:
        flash(_("Register changes saved."), "info")
    return redirect(url_for("households.show", household_id=household["id"], _anchor="residents"))


def _saved(result, household_id, visit_id):
    """Say what became of the visit and show it on the household's timeline."""
    if result == "conflict":
        flash(_("This visit was already saved with different content; the saved version is kept."), "error")
    elif result == "existing":
        flash(_("This visit was already saved."), "info")
    else:
        flash(_("Visit saved."), "info")
    return redirect(url_for("households.show", household_id=household_id, _anchor=f"visit-{visit_id}"))


@bp.route("/<int:visit_id>/amend", methods=["GET", "POST"])
@login_required
def amend(household_id, visit_id):
    """Amend one's own visit within the allowed hours, with a reason; the original is kept."""
    db = get_db()
    household = access.household_or_404(db, current_user, household_id)
    visit = visits.get(db, visit_id)
    if visit is None or visit["household_id"] != household_id:
        abort(404)
    if not (rules.may_amend(visit, current_user.id, rules.utcnow(), current_app.config["AMEND_HOURS"])
            or review.question_waits(db, visit, current_user.id)):  # answered by amending, even later
        abort(403)
    errors = {}
    form = request.form
    if request.method == "POST":
        reason, outcome, notes, errors = parse_amendment(form, visit)
        if not errors:
            review.answer_by_amendment(db, visit_id, current_user.id, rules.iso(rules.utcnow()), reason, outcome,
                                       notes, ip=request.remote_addr)
            flash(_("Amendment saved; the original visit is kept."), "info")
            return redirect(url_for("households.show", household_id=household_id, _anchor=f"visit-{visit_id}"))
    return render("visits/amend.html", household=household, visit=visit, errors=errors, form=form,
                  status=422 if errors else 200)
