"""Photo evidence: the phone's upload (POST /api/photos, registered on the API's blueprint) and the photos
served to who may see their household: full size (audited, like a household page) and as thumbnails."""
import re
import time

import click
from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.cli import with_appcontext
from flask_babel import gettext as _
from flask_login import current_user, login_required

from fieldapp import access, inputs, photostore, rules
from fieldapp.data import audit, households, ledger, visits
from fieldapp.data import photos as photo_data
from fieldapp.db import get_db

bp = Blueprint("photos", __name__, url_prefix="/photos")

# The upload's body: the file at its limit and the fields beside it. Over it, the answer is a JSON 413.
UPLOAD_LIMIT = photo_data.MAX_BYTES + 1024 * 1024
MAX_CAPTION = 200
FULL_MAX_AGE = 300  # seconds the browser keeps a full photo before asking (and being audited) again
THUMB_MAX_AGE = 86400
CLEANUP_EVERY = 3600  # seconds: uploads delete the photos that waited a day for their record, hourly at most
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UUID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def refused_messages():
    """What an uploader reads for each reason a photo is refused, with its HTTP status."""
    return {
        "not_image": (415, _("This file is not a photo that can be read (JPEG, PNG, WebP or GIF).")),
        "too_large": (413, _("The photo is too large: at most %(mb)d MB.", mb=photo_data.MAX_BYTES // 1048576)),
        "too_many_pixels": (413, _("The photo has too many pixels to be read safely; take it again at a "
                                   "lower resolution.")),
        "too_many": (409, _("At most %(n)d photos per visit or resolution.", n=photo_data.MAX_PER_RECORD)),
        "mismatch": (422, _("The photo arrived incomplete or damaged; it will be sent again.")),
    }


def rejected(status, errors):
    """The JSON answer for a refused upload: nothing was kept."""
    response = jsonify({"status": "rejected", "errors": errors})
    response.status_code = status
    return response


def too_large():
    """The 413 answer for an upload body over UPLOAD_LIMIT, read from its Content-Length before anything else."""
    return rejected(413, {"file": refused_messages()["too_large"][1]})


def parse_upload(form):
    """Check an upload's fields. Returns (values, errors by field)."""
    errors = {}
    record = form.get("record")
    if record not in ("visit", "resolution"):
        errors["record"] = _("Say which record the photo belongs to: a visit or a resolution.")
    record_uuid = (form.get("record_uuid") or "").strip()
    if not _UUID.fullmatch(record_uuid):
        errors["record_uuid"] = _("The photo names no record.")
    client_sha256 = (form.get("sha256") or "").strip().lower()
    if not _SHA256.fullmatch(client_sha256):
        errors["sha256"] = _("The photo's sha256 is missing or malformed.")
    caption = (form.get("caption") or "").strip() or None
    if caption and len(caption) > MAX_CAPTION:
        errors["caption"] = _("At most %(n)d characters.", n=MAX_CAPTION)
    taken_at = (form.get("taken_at") or "").strip() or None
    if taken_at:
        try:
            taken_at = rules.iso(rules.parse_iso(taken_at))
        except (ValueError, OverflowError):
            errors["taken_at"] = _("Give the time the photo was taken as an ISO time (UTC).")
    request_id = inputs.record_id(form.get("request_id"))
    if record == "resolution" and request_id is None:
        errors["request_id"] = _("A resolution's photo names its request.")
    return {"record": record, "record_uuid": record_uuid, "client_sha256": client_sha256, "caption": caption,
            "taken_at": taken_at, "request_id": request_id if record == "resolution" else None}, errors


def record_place(db, values):
    """Where an upload's record stands: (its visit_id / request_id / request_event_id, None) when it is the
    user's to add photos to (an empty place: not arrived yet, the photo waits), or (None, refusal)."""
    if values["record"] == "visit":
        visit = visits.by_uuid(db, values["record_uuid"])
        if visit is None:
            return {}, None
        household = households.get(db, visit["household_id"])
        if not access.may_see_cell(db, current_user, household["cell_id"]):
            return None, rejected(404, {"record_uuid": _("No such visit among yours.")})
        if visit["user_id"] != current_user.id:
            return None, rejected(403, {"record_uuid": _("Only who recorded a visit adds its photos.")})
        return {"visit_id": visit["id"]}, None
    found = ledger.get(db, values["request_id"])
    if found is None or not access.may_see_request(db, current_user, found):
        return None, rejected(404, {"request_id": _("No such request among yours.")})
    step = ledger.step(db, values["record_uuid"])
    if step is None:
        return {"request_id": found["id"]}, None
    if step["request_id"] != found["id"] or step["kind"] != "resolved" or step["user_id"] != current_user.id:
        return None, rejected(404, {"record_uuid": _("No such resolution of this request among yours.")})
    return {"request_id": found["id"], "request_event_id": step["id"]}, None


@login_required
def upload():
    """Take one photo for a visit or a resolution: created (201), existing (200: sent before), or rejected."""
    db = get_db()
    values, errors = parse_upload(request.form)
    if errors:
        return rejected(422, errors)
    place, refusal = record_place(db, values)
    if refusal:
        return refusal
    sent = request.files.get("file")
    if sent is None:
        return rejected(422, {"file": _("No photo was sent.")})
    store = photostore.from_config(current_app.config)
    try:
        status, photo_id, attached = photo_data.accept(
            db, store, sent.read(photo_data.MAX_BYTES + 1), user_id=current_user.id, now=rules.utcnow(),
            **{**values, **place})
    except photo_data.PhotoRefused as refused:
        code, message = refused_messages()[refused.reason]
        if refused.reason == "mismatch":  # not the photo's fault: the phone keeps it and sends it again
            response = jsonify({"status": "retry", "errors": {"file": message}})
            response.status_code = code
            return response
        return rejected(code, {"file": message})
    cleanup_now_and_then(db, store)
    response = jsonify({"status": status, "id": photo_id, "attached": attached})
    response.status_code = 201 if status == "created" else 200
    return response


def cleanup_now_and_then(db, store):
    """Delete the photos that waited a day for their record, at most once an hour in each app process (the
    `fieldapp photos-cleanup` command does the same on a schedule)."""
    state = current_app.extensions.setdefault("photos_cleanup", {"at": float("-inf")})
    if time.monotonic() - state["at"] >= CLEANUP_EVERY:
        state["at"] = time.monotonic()
        photo_data.cleanup(db, store, rules.utcnow())


def photo_or_404(db, user, photo_id):
    """An attached photo if user may see the household (or the building's or cell's request) it belongs to."""
    photo = photo_data.get(db, photo_id)
    if photo is None or photo["cell_id"] is None:
        abort(404)
    seen = (access.may_see_request(db, user, photo) if photo["request_id"] is not None
            else access.may_see_cell(db, user, photo["cell_id"]))
    if not seen:
        abort(404)
    return photo


def _send(sha, max_age):
    """The stored JPEG sha as an answer the browser keeps privately for max_age seconds (revalidated by ETag)."""
    try:
        data = photostore.from_config(current_app.config).get(sha)
    except photostore.MissingPhoto:
        abort(404)
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = f"private, max-age={max_age}"
    response.set_etag(sha)
    return response.make_conditional(request)


@bp.route("/<int:photo_id>")
@login_required
def show(photo_id):
    """A photo at full size; each opening is written to the audit log, as a household page's is."""
    db = get_db()
    photo = photo_or_404(db, current_user, photo_id)
    target = ("household", photo["household_id"]) if photo["household_id"] else ("request", photo["request_id"])
    audit.log(db, user_id=current_user.id, action="view_photo", target_type=target[0], target_id=target[1],
              detail={"photo": photo_id}, ip=request.remote_addr)
    return _send(photo["sha256"], FULL_MAX_AGE)


@bp.route("/<int:photo_id>/thumb")
@login_required
def thumb(photo_id):
    """A photo's thumbnail, for the timeline, the request page and the review list."""
    photo = photo_or_404(get_db(), current_user, photo_id)
    return _send(photo["thumb_sha256"], THUMB_MAX_AGE)


@click.command("photos-cleanup")
@with_appcontext
def cleanup_command():
    """Delete the photos that waited more than a day for their visit or resolution (run it daily)."""
    from fieldapp.data import db as database

    db = database.connect(current_app.config["DATABASE"])
    try:
        count = photo_data.cleanup(db, photostore.from_config(current_app.config), rules.utcnow())
    finally:
        db.close()
    click.echo(f"{count} photo(s) deleted that waited more than {photo_data.PENDING_DAYS} day(s) for their record.")
