"""Residents report for themselves, without an account: the page behind a building's QR poster (/r/<token>), the
answer with its tracking code, and the tracking page (/t/<code>) with the rating of a resolution.

Plain HTML forms, no script: the pages work in WeChat's in-app browser and without JavaScript. The form's CSRF
token rides on the anonymous session cookie. Nothing personal is ever shown here: not the name or phone a resident
left, not who answers."""
import hashlib
import hmac
import uuid as uuidlib
from datetime import date

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fieldapp import photos, photostore, rules
from fieldapp.clock import clock
from fieldapp.data import photos as photo_data
from fieldapp.data import reports
from fieldapp.data import requests as request_data
from fieldapp.db import get_db

bp = Blueprint("report", __name__)

MAX_DESCRIPTION = 1000
MAX_NAME = 50
PHOTO_MB = photo_data.MAX_BYTES // (1024 * 1024)
# Reports per address within minutes, and per building (or cell) within minutes: a burst waits.
LIMITS = {"per_address": 5, "address_minutes": 10, "per_place": 30, "place_minutes": 60}
HONEYPOT = "website"  # hidden from people; robots fill it in


def _page(template, status=200, **context):
    """A public page: no account, no navigation, nothing kept by the browser's cache (security headers)."""
    return render_template(template, **context), status


def _not_found():
    """The page for an unknown or revoked poster link, or an unknown tracking code."""
    return _page("report/not_found.html", 404)


def _address_hash():
    """The sender's address as the throttle keeps it: a keyed hash, never the address itself."""
    key, address = current_app.secret_key.encode(), f"report:{request.remote_addr}".encode()
    return hmac.new(key, address, hashlib.sha256).hexdigest()[:32]


def _limits():
    return {**LIMITS, **current_app.config.get("REPORT_LIMITS", {})}


def parse_report(form, files, categories):
    """Check a resident's report. Returns (values, errors by field)."""
    errors = {}
    category = form.get("category") or ""
    if category not in categories:
        errors["category"] = _("Choose what your report is about.")
    description = (form.get("description") or "").strip()
    if not description:
        errors["description"] = _("Describe what should be looked at.")
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = _("At most %(n)d characters.", n=MAX_DESCRIPTION)
    name = (form.get("name") or "").strip()
    phone = "".join((form.get("phone") or "").split())
    if len(name) > MAX_NAME:
        errors["name"] = _("At most %(n)d characters.", n=MAX_NAME)
    if phone and not (phone.lstrip("+").isdecimal() and 5 <= len(phone) <= 20):
        errors["phone"] = _("Enter a phone number of digits only, or leave it empty.")
    if (name or phone) and form.get("consent") != "yes":
        errors["consent"] = _("To leave your name or phone, agree to how they are kept; or leave both empty.")
    photo, upload = None, files.get("photo")
    if upload is not None and upload.filename:
        # Checked and re-encoded (no metadata) before anything is written: a file that is no photo is refused here.
        raw = upload.read(photo_data.MAX_BYTES + 1)
        try:
            photo = (photostore.sha256(raw), photo_data.prepare(raw))
        except photo_data.PhotoRefused as refused:
            errors["photo"] = photos.refused_messages()[refused.reason][1]
    try:
        report_uuid = str(uuidlib.UUID(form.get("uuid", "")))
    except ValueError:
        report_uuid = str(uuidlib.uuid4())
    return {"uuid": report_uuid, "category": category, "description": description, "name": name or None,
            "phone": phone or None, "photo": photo}, errors


def _form(found, categories, errors=None, form=None, status=200):
    """The report form of a poster's place."""
    form = form or {}
    return _page("report/form.html", status, place=found, categories=categories, errors=errors or {}, form=form,
                 uuid=form.get("uuid") or str(uuidlib.uuid4()), token=request.view_args["token"],
                 max_description=MAX_DESCRIPTION, photo_mb=PHOTO_MB)


@bp.route("/r/<token>", methods=["GET", "POST"])
def new(token):
    """The report page of a building's (or a village cell's) QR poster; a report enters the ledger."""
    db = get_db()
    found = reports.token_place(db, token)
    if found is None:
        return _not_found()
    categories = request_data.categories(db)
    if request.method == "GET":
        return _form(found, categories)
    now = rules.utcnow()
    address = _address_hash()
    if reports.throttled(db, address, reports.place_key(found), now, **_limits()):
        return _page("report/busy.html", 429)
    if request.form.get(HONEYPOT):
        reports.note_attempt(db, address, reports.place_key(found), now)
        return _page("report/refused.html", 400)
    values, errors = parse_report(request.form, request.files, {c["code"] for c in categories})
    if errors:
        return _form(found, categories, errors, request.form, 422)
    today = date.fromisoformat(clock(db)["today"])
    due_days = {c["code"]: c["due_days"] for c in categories}[values["category"]]
    at = rules.iso(now)
    _created, code = reports.record(
        db, uuid=values["uuid"], found=found, category=values["category"], description=values["description"],
        name=values["name"], phone=values["phone"], consent_at=at if values["name"] or values["phone"] else None,
        due_date=rules.request_due_date(today, due_days).isoformat(), at=at, address_hash=address,
        photo=values["photo"], store=photostore.from_config(current_app.config))
    return redirect(url_for("report.sent", code=code))


@bp.errorhandler(413)
def too_large(error):
    """A report whose photo makes it too large: the form again (nothing sent), the reason at the photo."""
    found = reports.token_place(get_db(), request.view_args.get("token", "")) if request.view_args else None
    if found is None:
        return _not_found()
    mb = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    return _form(found, request_data.categories(get_db()), {"photo": _(
        "The photo is too large: at most %(mb)d MB. Nothing was sent; choose a smaller photo.", mb=min(mb, PHOTO_MB))},
        status=413)


@bp.route("/t/<code>/sent")
def sent(code):
    """The answer to a report: its tracking code and the link to follow it."""
    if reports.tracked(get_db(), code) is None:
        return _not_found()
    return _page("report/sent.html", code=code)


@bp.route("/t/<code>")
def track(code):
    """A report's status, category and public replies; once resolved, the resident's rating."""
    normal = reports.normal_code(code)
    if normal is not None and normal != code:
        return redirect(url_for("report.track", code=normal))
    found = reports.tracked(get_db(), code) if normal else None
    if found is None:
        return _not_found()
    return _page("report/track.html", item=found, code=code, errors={}, form={})


@bp.route("/t/<code>/rate", methods=["POST"])
def rate(code):
    """Rate a resolution: "Satisfied" closes the request, "Not satisfied" reopens it; once per resolution."""
    db = get_db()
    found = reports.tracked(db, code) if reports.normal_code(code) == code else None
    if found is None:
        return _not_found()
    answer = request.form.get("answer")
    comment = (request.form.get("comment") or "").strip()
    errors = {}
    if answer not in ("satisfied", "not_satisfied"):
        errors["answer"] = _("Choose “Satisfied” or “Not satisfied”.")
    elif answer == "not_satisfied" and not comment:
        errors["comment"] = _("Write what is still wrong, so that it can be looked at again.")
    if len(comment) > MAX_DESCRIPTION:
        errors["comment"] = _("At most %(n)d characters.", n=MAX_DESCRIPTION)
    if found["rate_resolution"] is None:
        errors["answer"] = _("There is nothing to rate now: the report is not resolved, or you rated this answer already.")
    if errors:
        return _page("report/track.html", 422, item=found, code=code, errors=errors, form=request.form)
    reports.rate(db, code, satisfied=answer == "satisfied", comment=comment or None, at=rules.iso(rules.utcnow()))
    return redirect(url_for("report.track", code=code, rated=1))
