"""The phone's API: the session and a fresh CSRF token, the visit sync batch, the offline manifest."""
from flask import Blueprint, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from fieldapp import access, inputs, offline, rules
from fieldapp import openapi as description
from fieldapp.data import households, requests, visits
from fieldapp.data import security as security_data
from fieldapp.db import get_db
from fieldapp.visitform import MAX_BATCH, MAX_BODY, item_as_form, parse_visit, payload_digest

bp = Blueprint("api", __name__, url_prefix="/api")


def api_error(status, message, **extra):
    """A JSON error answer for the whole request."""
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


@bp.route("/session")
def session():
    """Who is signed in, the session's opaque name (kept pages belong to it) and a fresh CSRF token."""
    user = key = None
    if current_user.is_authenticated:
        user = {"id": current_user.id, "username": current_user.username, "role": current_user.role}
        key = offline.session_key(current_user)
    response = jsonify({"user": user, "session": key, "csrf_token": generate_csrf()})
    response.headers["Cache-Control"] = "no-store"
    return response


def sync_item(db, item, now):
    """Record one batch item in its own transaction and say what became of it."""
    if not isinstance(item, dict):
        return {"status": "rejected", "http_status": 422, "errors": {"item": _("Each item must be an object.")}}
    uuid = item.get("uuid")
    answer = {"uuid": uuid}
    if not uuid:
        return {**answer, "status": "rejected", "http_status": 422, "errors": {"uuid": _("The visit has no id.")}}
    household_id = item.get("household_id")
    in_range = type(household_id) is int and 0 < household_id < 2**63  # not a bool, fits SQLite
    household = households.get(db, household_id) if in_range else None
    if household is None or not access.may_see_cell(db, current_user, household["cell_id"]):
        return {**answer, "status": "rejected", "http_status": 404,
                "errors": {"household_id": _("No such household among yours.")}}
    try:
        form = item_as_form(item)
    except ValueError as error:
        return {**answer, "status": "rejected", "http_status": 422,
                "errors": {str(error): _("This part of the visit is malformed.")}}
    # A follow-up of another household's request (another cell's, another grid's) is refused, not ignored.
    followed = [inputs.record_id(str(f["request_id"])) for f in item.get("followups") or []]
    if security_data.foreign_request_ids(db, household_id, followed):
        return {**answer, "status": "rejected", "http_status": 404,
                "errors": {"followups": _("No such request among this household's.")}}
    known = visits.by_uuid(db, str(uuid))
    if known:  # a resend: compare with what was sent, not with today's state of its requests
        same = known["payload_sha256"] == payload_digest(form, household_id)
        if not same:
            visits.record_conflict(db, uuid=known["uuid"], visit_id=known["id"], user_id=current_user.id,
                                   received_at=rules.iso(now), body=item)
        return _answer(answer, "existing" if same else "conflict", known["id"], household_id)
    visit, new_requests, followups, errors = parse_visit(
        form, household=household, residents=households.residents(db, household_id),
        open_requests=requests.followable_for_household(db, household_id), categories=requests.categories(db),
        now=now, user_id=current_user.id, config=current_app.config)
    if errors:
        return {**answer, "status": "rejected", "http_status": 422, "errors": errors}
    try:
        result, visit_id = visits.record(db, visit, new_requests, followups)
    except rules.IllegalTransition:
        return {**answer, "status": "rejected", "http_status": 409,
                "errors": {"followups": _("A request changed meanwhile; check the follow-ups and save again.")}}
    if result == "conflict":  # the same uuid arrived in between, from another request
        visits.record_conflict(db, uuid=visit["uuid"], visit_id=visit_id, user_id=current_user.id,
                               received_at=rules.iso(now), body=item)
    return _answer(answer, result, visit_id, household_id)


def _answer(answer, result, visit_id, household_id):
    """The per-item answer for a recorded (or already recorded, or conflicting) visit."""
    if result == "conflict":
        return {**answer, "status": "conflict", "http_status": 409, "visit_id": visit_id,
                "errors": {"uuid": _("This visit was already saved with different content; "
                                     "the saved version is kept.")}}
    url = url_for("households.show", household_id=household_id, _anchor=f"visit-{visit_id}")
    return {**answer, "status": result, "http_status": 201 if result == "created" else 200,
            "visit_id": visit_id, "url": url}


@bp.route("/visits", methods=["POST"])
@login_required
def sync_visits():
    """Take a batch of visits; answer per item: created, existing, conflict (409) or rejected."""
    if request.content_length and request.content_length > MAX_BODY:
        return api_error(413, _("The batch is too large: at most %(mb)d MB.", mb=MAX_BODY // (1024 * 1024)))
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("visits"), list):
        return api_error(400, _('The body must be JSON of the form {"visits": [...]}.'))
    if len(body["visits"]) > MAX_BATCH:
        return api_error(413, _("At most %(n)d visits per batch.", n=MAX_BATCH))
    db = get_db()
    now = rules.utcnow()
    results = [sync_item(db, item, now) for item in body["visits"]]
    return jsonify({"results": results})


@bp.route("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API (fieldapp/openapi.py)."""
    return jsonify(description.document())


@bp.route("/offline-manifest")
@login_required
def offline_manifest():
    """Start an offline copy (logged once, here): its pages, its households, its token and session."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        # A link on another site must not make copies that the audit log then holds against a member.
        return api_error(403, _("An offline copy is made by the app's own pages only."))
    copy = offline.make_copy(get_db(), current_user, request.remote_addr)
    response = jsonify({**copy, "generated_at": rules.iso(rules.utcnow())})
    response.headers["Cache-Control"] = "no-store"
    return response
