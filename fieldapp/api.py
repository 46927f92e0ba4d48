"""The phone's API: the session and a fresh CSRF token, the visit sync batch, the offline manifest."""
from flask import Blueprint, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from fieldapp import access, inputs, offline, photos, registerform, rules
from fieldapp import openapi as description
from fieldapp.clock import clock
from fieldapp.data import households, requests, visits
from fieldapp.data import register as register_data
from fieldapp.data import security as security_data
from fieldapp.db import get_db
from fieldapp.visitform import MAX_BATCH, MAX_BODY, item_as_form, parse_visit, payload_digest

bp = Blueprint("api", __name__, url_prefix="/api")
# A photo for a visit or a resolution, each its own idempotent upload (fieldapp/photos.py).
bp.add_url_rule("/photos", "upload_photo", photos.upload, methods=["POST"])


@bp.url_value_preprocessor
def allow_photo_uploads(endpoint, values):
    """Raise the body limit for a photo, before CSRF protection reads the form."""
    if endpoint == "api.upload_photo":
        request.max_content_length = photos.UPLOAD_LIMIT


@bp.errorhandler(413)
def body_too_large(error):
    """A body over its limit, found while it was read: a JSON answer, never the error page."""
    if request.endpoint == "api.upload_photo":
        return photos.too_large()
    return api_error(413, _("The request is too large."))


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


def sync_item(db, item, now, change_answers, scope):
    """Record one batch item in its own transaction and say what became of it; the answers for the register
    changes it carries are appended to change_answers. scope: the user's cell_scope, read once for the batch."""
    if not isinstance(item, dict):
        return {"status": "rejected", "http_status": 422, "errors": {"item": _("Each item must be an object.")}}
    uuid = item.get("uuid")
    answer = {"uuid": uuid}
    if not uuid:
        return {**answer, "status": "rejected", "http_status": 422, "errors": {"uuid": _("The visit has no id.")}}
    household_id = item.get("household_id")
    in_range = type(household_id) is int and 0 < household_id < 2**63  # not a bool, fits SQLite
    household = households.get(db, household_id) if in_range else None
    if household is None or not access.in_scope(scope, household["cell_id"]):
        return {**answer, "status": "rejected", "http_status": 404,
                "errors": {"household_id": _("No such household among yours.")}}
    changes = item.get("changes") or []
    try:
        form = item_as_form(item)
        if not isinstance(changes, list):
            raise ValueError("changes")
    except ValueError as error:
        return {**answer, "status": "rejected", "http_status": 422,
                "errors": {str(error): _("This part of the visit is malformed.")}}
    # A follow-up of another household's request (another cell's, another grid's) is refused, not ignored.
    followed = [inputs.record_id(str(f["request_id"])) for f in item.get("followups") or []]
    if security_data.foreign_request_ids(db, household_id, followed):
        return {**answer, "status": "rejected", "http_status": 404,
                "errors": {"followups": _("No such request among this household's.")}}
    # What the form's checks read for the parts a visit carries: most carry no residents met, no follow-up and no
    # new request, and are checked without those three reads.
    visit, new_requests, followups, errors = parse_visit(
        form, household=household,
        residents=households.residents(db, household_id) if "residents_met" in form else [],
        open_requests=requests.followable_for_household(db, household_id)
        if any(key.startswith("followup_") for key in form) else [],
        categories=requests.categories(db) if "new_category" in form else [],
        now=now, user_id=current_user.id, config=current_app.config)
    checked, refused, at_fields = _visit_changes(db, changes, now, household)
    if errors or refused:
        known = visits.by_uuid(db, str(uuid))
        if known:  # a resend that today's state of its household refuses: answered as it was stored
            return _resend(db, item, known, form, household, now, change_answers)
        # The visit is refused with its changes: fixed on the phone, it is sent again whole.
        errors.update(at_fields)
        change_answers += [_refused(raw, uuid, refused.get(index)) for index, raw in enumerate(changes)]
        return {**answer, "status": "rejected", "http_status": 422, "errors": errors}
    try:
        if checked:
            result, visit_id, recorded = register_data.record_visit(db, visit, new_requests, followups, checked,
                                                                    ip=request.remote_addr)
        else:  # nothing learnt for the register: the visit alone, one statement on PostgreSQL (visits.record)
            (result, visit_id), recorded = visits.record(db, visit, new_requests, followups), []
    except rules.IllegalTransition:
        change_answers += [_refused(raw, uuid) for raw in changes]
        return {**answer, "status": "rejected", "http_status": 409,
                "errors": {"followups": _("A request changed meanwhile; check the follow-ups and save again.")}}
    if result == "created":
        change_answers += [_change_answer(db, change["uuid"], found, uuid)
                           for change, (found, _id) in zip(checked, recorded)]
    else:  # a resend (or the same visit arrived in between): its changes on their own, as in _resend
        change_answers += [sync_change(db, raw, now, household=household, visit=(uuid, visit_id)) for raw in changes]
    if result == "conflict":  # the uuid was stored with other content: kept, and this one beside it
        visits.record_conflict(db, uuid=visit["uuid"], visit_id=visit_id, user_id=current_user.id,
                               received_at=rules.iso(now), body=item)
    return _answer(answer, result, visit_id, household_id)


def _resend(db, item, known, form, household, now, change_answers):
    """The answer for a visit stored before under its uuid (known), compared with what was sent, not with today's
    state of its requests. A resend that passes the checks is told apart by the insert itself (visits.record),
    which saves a read of every new visit."""
    uuid, household_id = item["uuid"], household["id"]
    same = known["payload_sha256"] == payload_digest(form, household_id)
    if not same:
        visits.record_conflict(db, uuid=known["uuid"], visit_id=known["id"], user_id=current_user.id,
                               received_at=rules.iso(now), body=item)
    # Its changes were recorded with it; one recorded since (or never) is taken on its own as it stands.
    change_answers += [sync_change(db, raw, now, household=household, visit=(uuid, known["id"]))
                       for raw in item.get("changes") or []]
    return _answer({"uuid": uuid}, "existing" if same else "conflict", known["id"], household_id)


def _sync_visit(db, item, now, change_answers, scope):
    """sync_item, with an answer for each change of a visit refused before its changes were looked at."""
    answered = len(change_answers)
    result = sync_item(db, item, now, change_answers, scope)
    if len(change_answers) == answered and isinstance(item, dict) and isinstance(item.get("changes"), list):
        change_answers += [_refused(raw, item.get("uuid")) for raw in item["changes"]]
    return result


def _visit_changes(db, changes, now, household):
    """Check the changes a new visit carries. Returns (the changes to record, {index: errors by field} of those
    refused, the same errors at the visit form's fields)."""
    checked, refused, at_fields = [], {}, {}
    for index, raw in enumerate(changes):
        change, _status, errors = registerform.check_change(db, current_user, raw, now=now, clock=clock(db),
                                                            household=household)
        if errors:
            refused[index] = errors
            prefix = "nr_" if isinstance(raw, dict) and raw.get("kind") == "resident_added" else (
                f"r{raw.get('resident_id')}_" if isinstance(raw, dict) else "")
            for field, message in errors.items():
                at_fields.setdefault(registerform.form_key(prefix, field), message)
        else:
            checked.append(change)
    return checked, refused, at_fields


def _refused(raw, visit_uuid, errors=None):
    """The answer for a change of a visit that was not saved: its own errors, or the visit's."""
    return {"uuid": raw.get("uuid") if isinstance(raw, dict) else None, "visit_uuid": visit_uuid,
            "status": "rejected", "http_status": 422,
            "errors": errors or {"visit": _("The visit was not saved, so this change was not applied.")}}


def sync_change(db, raw, now, *, household=None, visit=None):
    """Record one register change (standalone, or of a visit recorded before: visit = (uuid, id)) in its own
    transaction, and say what became of it."""
    visit_uuid, visit_id = visit or (None, None)
    uuid = raw.get("uuid") if isinstance(raw, dict) else None
    known = register_data.by_uuid(db, str(uuid)) if isinstance(uuid, str) and uuid else None
    if known:  # a resend: compare with what was sent, not with today's register
        if known["payload_sha256"] != registerform.payload_digest(raw):
            return _change_answer(db, uuid, "mismatch", visit_uuid)
        return _change_answer(db, uuid, "conflict" if known["state"] == "conflict" else "existing", visit_uuid)
    change, status, errors = registerform.check_change(db, current_user, raw, now=now, clock=clock(db),
                                                       household=household)
    if errors:
        return {"uuid": uuid, "visit_uuid": visit_uuid, "status": "rejected", "http_status": status,
                "errors": errors}
    [(result, _id)] = register_data.record_all(db, [change], ip=request.remote_addr, visit_id=visit_id)
    return _change_answer(db, change["uuid"], result, visit_uuid)


def _change_answer(db, uuid, result, visit_uuid):
    """The per-change answer: created, existing (recorded before, or the register already held it), conflict
    (kept for the leader's review: the phone need not send it again), or rejected (another uuid's content)."""
    if result == "mismatch":
        return {"uuid": uuid, "visit_uuid": visit_uuid, "status": "rejected", "http_status": 409,
                "errors": {"uuid": _("This change was already saved with different content; "
                                     "the saved version is kept.")}}
    row = register_data.by_uuid(db, uuid) or {}
    answer = {"uuid": uuid, "visit_uuid": visit_uuid, "status": result,
              "http_status": {"created": 201, "existing": 200, "conflict": 202}[result],
              "change_id": row.get("id"), "household_id": row.get("household_id"),
              "resident_id": row.get("resident_id")}
    if result == "conflict":
        answer["message"] = _("conflict: kept for the leader's review")
    return answer


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
    # Register changes made offline come inside their visits, or on their own beside them ({"changes": [...]}).
    standalone = body.get("changes", []) if isinstance(body, dict) else None
    if isinstance(body, dict) and "visits" not in body and isinstance(standalone, list) and standalone:
        body = {**body, "visits": []}
    if not isinstance(body, dict) or not isinstance(body.get("visits"), list) or not isinstance(standalone, list):
        return api_error(400, _('The body must be JSON of the form {"visits": [...]}.'))
    if len(body["visits"]) > MAX_BATCH:
        return api_error(413, _("At most %(n)d visits per batch.", n=MAX_BATCH))
    inside = sum(len(item["changes"]) for item in body["visits"]
                 if isinstance(item, dict) and isinstance(item.get("changes"), list))
    if inside + len(standalone) > registerform.MAX_CHANGES:
        return api_error(413, _("At most %(n)d register changes per batch.", n=registerform.MAX_CHANGES))
    db = get_db()
    now = rules.utcnow()
    change_answers = []
    scope = access.cell_scope(db, current_user)
    results = [_sync_visit(db, item, now, change_answers, scope) for item in body["visits"]]
    change_answers += [sync_change(db, raw, now) for raw in standalone]
    sent_changes = "changes" in body or inside
    return jsonify({"results": results, **({"changes": change_answers} if sent_changes else {})})


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
