"""Recording a visit at the door: the form, its checks, saving it once, and amending it."""
import hashlib
import json
import uuid as uuidlib
from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from fieldapp import access, inputs, rules
from fieldapp.data import households, requests, visits
from fieldapp.db import get_db
from fieldapp.templating import render

bp = Blueprint("visits", __name__, url_prefix="/households/<int:household_id>/visits")

MAX_TEXT = 2000
NO_LOCATION_REASONS = ("denied", "unavailable", "timeout", "unsupported")
FUTURE_SLACK = timedelta(minutes=5)
OLDEST = timedelta(days=30)  # a phone may hold a visit offline for a while, not for months


def _number(raw, low, high):
    """A float within [low, high] from raw form text, or None if blank; ValueError otherwise."""
    if raw is None or str(raw).strip() == "":
        return None
    value = float(raw)
    if not (low <= value <= high):
        raise ValueError
    return value


def payload_digest(form, household_id):
    """A fingerprint of what the phone sent (not of what was derived from it): a resend must match it."""
    fields = {key: form.getlist(key) for key in sorted(form.keys()) if key != "csrf_token"}
    fields["household_id"] = [str(household_id)]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def parse_visit(form, *, household, residents, open_requests, categories, now, user_id, config):
    """Check a submitted visit. Returns (visit, new_requests, followups, errors by field)."""
    errors = {}
    uuid = (form.get("uuid") or "").strip()
    try:
        uuid = str(uuidlib.UUID(uuid))
    except ValueError:
        errors["uuid"] = _("The visit has no valid id; reload the form.")
    outcome = form.get("outcome") or ""
    if outcome not in rules.OUTCOMES:
        errors["outcome"] = _("Choose what happened at the door.")
    notes = (form.get("notes") or "").strip()
    if len(notes) > MAX_TEXT:
        errors["notes"] = _("Notes are limited to %(n)d characters (now %(m)d).", n=MAX_TEXT, m=len(notes))
    visited_at = now
    if form.get("visited_at"):
        try:
            visited_at = rules.parse_iso(form["visited_at"]).replace(microsecond=0)
            if visited_at > now + FUTURE_SLACK:
                errors["visited_at"] = _("The visit time lies in the future; check the phone's clock.")
            elif visited_at < now - OLDEST:
                errors["visited_at"] = _("The visit time is more than 30 days ago.")
        except ValueError:
            errors["visited_at"] = _("The visit time is not a valid date and time.")
    lat = lon = accuracy = None
    try:
        lat = _number(form.get("lat"), -90, 90)
        lon = _number(form.get("lon"), -180, 180)
        accuracy = _number(form.get("accuracy"), 0, 1_000_000)
        if (lat is None) != (lon is None) or (lat is not None and accuracy is None):
            raise ValueError
    except ValueError:
        errors["location"] = _("The location is out of range or incomplete; refresh it or save without.")
        lat = lon = accuracy = None
    reason = form.get("no_location_reason") or None
    if lat is None and reason not in NO_LOCATION_REASONS:
        reason = "unavailable"
    resident_ids = {r["id"] for r in residents}
    met = sorted({v for v in map(inputs.record_id, form.getlist("residents_met")) if v in resident_ids})

    new_requests = []
    known = {c["code"]: c for c in categories}
    rows = zip(form.getlist("new_uuid"), form.getlist("new_category"), form.getlist("new_description"))
    for index, (request_uuid, category, description) in enumerate(rows):
        description = description.strip()
        if not category and not description:
            continue  # an empty block the member did not use
        if category not in known:
            errors[f"new_category_{index}"] = _("Choose a category for the request.")
        if not description:
            errors[f"new_description_{index}"] = _("Describe what the resident needs.")
        elif len(description) > MAX_TEXT:
            errors[f"new_description_{index}"] = _("At most %(n)d characters.", n=MAX_TEXT)
        if category in known and description:
            try:
                request_uuid = str(uuidlib.UUID(request_uuid))
            except ValueError:
                request_uuid = str(uuidlib.uuid5(uuidlib.UUID(uuid) if "uuid" not in errors else uuidlib.NAMESPACE_URL,
                                                 f"request-{index}"))
            new_requests.append({
                "uuid": request_uuid, "category": category, "description": description,
                "responsible_user_id": user_id,
                "due_date": rules.request_due_date(rules.local_date(visited_at), known[category]["due_days"]).isoformat(),
            })

    followups = []
    for request in open_requests:
        action = form.get(f"followup_{request['id']}") or ""
        note = (form.get(f"followup_note_{request['id']}") or "").strip()
        if not action:
            continue
        # A resolved request is followed up by its return visit: satisfied closes it, not satisfied reopens it.
        allowed = ("confirm", "reopen") if request["status"] == "resolved" else ("progress", "resolve")
        if action not in allowed:
            errors[f"followup_{request['id']}"] = _("Unknown follow-up.")
        elif action == "confirm":
            followups.append({"request_id": request["id"], "action": action, "note": note[:MAX_TEXT] or None})
        elif not note:
            errors[f"followup_note_{request['id']}"] = (
                _("Write the resolution.") if action == "resolve" else
                _("Write what the resident is not satisfied with.") if action == "reopen" else _("Write what was done."))
        elif len(note) > MAX_TEXT:
            errors[f"followup_note_{request['id']}"] = _("At most %(n)d characters.", n=MAX_TEXT)
        else:
            followups.append({"request_id": request["id"], "action": action, "note": note})

    distance = None
    if lat is not None and household["point_lon"] is not None:
        distance = round(rules.distance_m(lon, lat, household["point_lon"], household["point_lat"]), 1)
    flag = rules.location_flag(distance if lat is not None else None, accuracy,
                               max_distance=config["LOCATION_MAX_DISTANCE_M"],
                               max_accuracy=config["LOCATION_MAX_ACCURACY_M"])
    visit = {
        "uuid": uuid, "household_id": household["id"], "user_id": user_id,
        "visited_at": rules.iso(visited_at), "received_at": rules.iso(now),
        "lat": lat, "lon": lon, "accuracy_m": accuracy, "distance_m": distance, "location_flag": flag,
        "no_location_reason": reason if lat is None else None, "outcome": outcome,
        "residents_met": json.dumps(met), "notes": notes,
        "payload_sha256": payload_digest(form, household["id"]),
    }
    return visit, new_requests, followups, errors


def _context(db, household):
    """What the visit form shows besides the member's input."""
    return {"household": household, "residents": households.residents(db, household["id"]),
            "open_requests": requests.followable_for_household(db, household["id"]),
            "categories": requests.categories(db)}


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
    context = _context(db, household)
    visit, new_requests, followups, errors = parse_visit(
        request.form, household=household, residents=context["residents"],
        open_requests=context["open_requests"], categories=context["categories"],
        now=rules.utcnow(), user_id=current_user.id, config=current_app.config)
    if errors:
        return render("visits/form.html", **context, errors=errors, form=request.form,
                      visit_uuid=request.form.get("uuid") or str(uuidlib.uuid4()), status=422)
    try:
        result, visit_id = visits.record(db, visit, new_requests, followups)
    except rules.IllegalTransition:
        # Someone changed a request while the form was open: show the form again with today's requests.
        context = _context(db, household)
        errors = {"followups": _("A request changed meanwhile; check the follow-ups and save again.")}
        return render("visits/form.html", **context, errors=errors, form=request.form,
                      visit_uuid=visit["uuid"], status=409)
    return _saved(result, household_id, visit_id)


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
    deadline = rules.parse_iso(visit["received_at"]) + timedelta(hours=current_app.config["AMEND_HOURS"])
    if visit["user_id"] != current_user.id or rules.utcnow() > deadline:
        abort(403)
    errors = {}
    form = request.form
    if request.method == "POST":
        reason = (form.get("reason") or "").strip()
        outcome = form.get("outcome") or None
        notes = form.get("notes")
        if not reason:
            errors["reason"] = _("Say why the visit is amended.")
        elif len(reason) > MAX_TEXT:
            errors["reason"] = _("At most %(n)d characters.", n=MAX_TEXT)
        if outcome and outcome not in rules.OUTCOMES:
            errors["outcome"] = _("Choose what happened at the door.")
        if notes is not None and len(notes) > MAX_TEXT:
            errors["notes"] = _("Notes are limited to %(n)d characters (now %(m)d).", n=MAX_TEXT, m=len(notes))
        if not errors:
            visits.amend(db, visit_id, current_user.id, rules.iso(rules.utcnow()), reason,
                         outcome if outcome != visit["outcome"] else None,
                         notes.strip() if notes is not None and notes.strip() != visit["notes"] else None)
            flash(_("Amendment saved; the original visit is kept."), "info")
            return redirect(url_for("households.show", household_id=household_id, _anchor=f"visit-{visit_id}"))
    return render("visits/amend.html", household=household, visit=visit, errors=errors, form=form,
                  status=422 if errors else 200)
