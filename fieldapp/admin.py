"""Administration: the landing page, imports (upload, preview, commit) and exports."""
import secrets
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from fieldapp import access, imports, inputs, rules
from fieldapp.access import roles_required
from fieldapp.clock import clock
from fieldapp.data import audit, geodata, users
from fieldapp.db import get_db
from fieldapp.exports import downloads, kinds
from fieldapp.imports.problems import KINDS, describe, where
from fieldapp.templating import render

bp = Blueprint("admin", __name__, url_prefix="/admin")
IMPORT_LIMIT = imports.LIMIT_MB * 1024 * 1024
SHOWN = 500  # problems listed on the preview page; the rest are counted


@bp.url_value_preprocessor
def allow_large_uploads(endpoint, values):
    """Raise the upload limit for import files, before CSRF protection reads the form."""
    if endpoint == "admin.upload":
        request.max_content_length = IMPORT_LIMIT


@bp.errorhandler(413)
def upload_too_large(error):
    """Refuse a file over the import limit (read from Content-Length, before any parsing), saying the limit."""
    message = _("The file is too large: at most %(mb)d MB.", mb=imports.LIMIT_MB)
    if request.endpoint != "admin.upload":
        message = _("The upload is too large: at most %(mb)d MB.",
                    mb=current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024))
    return render("admin/import.html", kinds=KINDS, formats=imports.FORMATS, error=message,
                  limit=imports.LIMIT_MB, status=413)


@bp.route("/")
@roles_required("admin")
def index():
    """The admin's landing page: import, export, users, assignments, and the accounts at a glance."""
    return render("admin/index.html", accounts=users.accounts(get_db()))


@bp.route("/import")
@roles_required("admin")
def import_form():
    """One upload form per kind (cells, buildings, households), with a template to download."""
    return render("admin/import.html", kinds=KINDS, formats=imports.FORMATS, error=None, limit=imports.LIMIT_MB)


def upload_errors(kind, upload, crs):
    """What is wrong with an upload form before its file is read."""
    if kind not in imports.KINDS:
        abort(404)
    if upload is None or not upload.filename:
        return _("Choose a file to import.")
    if crs not in imports.CRS:
        return _("Unknown coordinate system.")
    return None


@bp.route("/import/<kind>", methods=["POST"])
@roles_required("admin")
def upload(kind):
    """Keep an uploaded file server-side under a random token and show its preview."""
    file, crs = request.files.get("file"), request.form.get("crs", "wgs84")
    error = upload_errors(kind, file, crs)
    if error:
        return render("admin/import.html", kinds=KINDS, formats=imports.FORMATS, error=error,
                      limit=imports.LIMIT_MB, status=422)
    token = secrets.token_urlsafe(16)
    geodata.save_upload(get_db(), token=token, user_id=current_user.id, kind=kind, crs=crs,
                        filename=file.filename[:200], content=file.read())
    return redirect(url_for("admin.preview", token=token), code=303)


def _preview(token):
    """The upload with token (this admin's only) and its preview, or 404."""
    db = get_db()
    stored = geodata.upload(db, token, current_user.id)
    if stored is None:
        abort(404)
    return stored, imports.preview(db, stored["kind"], stored["content"], stored["filename"], stored["crs"])


def _render_preview(token, stored, report, status=200):
    """The preview page: counts, errors, skipped features and notes, worded in the reader's language."""
    worded = {key: [{"where": where(p), "field": p.get("field") or "", "reason": describe(p)}
                    for p in report[key][:SHOWN]] for key in ("errors", "skipped")}
    notes = [describe(n) for n in report["notes"]]
    return render("admin/preview.html", "admin/_preview.html", token=token, upload=stored, report=report,
                  worded=worded, notes=notes, shown=SHOWN, kinds=KINDS, status=status)


@bp.route("/import/preview/<token>")
@roles_required("admin")
def preview(token):
    """What the import of an uploaded file would do: to add, to update, unchanged, errors, skipped."""
    stored, report = _preview(token)
    return _render_preview(token, stored, report)


@bp.route("/import/preview/<token>/commit", methods=["POST"])
@roles_required("admin")
def commit(token):
    """Import the previewed file in one transaction, or show again why it cannot be."""
    stored, report = _preview(token)
    db = get_db()
    if not imports.commit(db, report):
        return _render_preview(token, stored, report, status=422)
    geodata.forget_upload(db, token)
    audit.log(db, user_id=current_user.id, action="import", target_type=stored["kind"],
              detail={"file": stored["filename"], "added": report["add"], "updated": report["update"],
                      "skipped": len(report["skipped"])}, ip=request.remote_addr)
    flash(_("Imported %(kind)s: %(added)d added, %(updated)d updated, %(unchanged)d unchanged, %(skipped)d skipped.",
            kind=KINDS[stored["kind"]], added=report["add"], updated=report["update"],
            unchanged=report["unchanged"], skipped=len(report["skipped"])), "info")
    return redirect(url_for("admin.import_form"), code=303)


@bp.route("/import/template/<kind>")
@roles_required("admin")
def template(kind):
    """A template file for kind, with its columns and one example row."""
    if kind not in imports.KINDS:
        abort(404)
    found = kinds.template(kind)
    return downloads.attachment(found["content"], found["filename"])


@bp.route("/export")
@roles_required("leader", "admin")
def export_form():
    """Links to every export the user may take (leaders: their grid)."""
    return render("admin/export.html", formats=kinds.FORMATS, kinds={**KINDS, "visits": _("Visits")},
                  errors={}, values=request.args)


def period_errors(args):
    """Check the visits export's optional period (from, until: YYYY-MM-DD); return (errors, since, until)."""
    errors, days = {}, {}
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    for key, label in (("from", _("From")), ("until", _("Until"))):
        try:
            days[key] = inputs.day(args.get(key), label, rules.today(tz))
        except inputs.BadValue as error:
            errors[key] = error.message
    try:
        inputs.span(days.get("from"), days.get("until"), _("Until"))
    except inputs.BadValue as error:
        errors["until"] = error.message
    bounds = {key: rules.local_midnight_utc(days[key] + timedelta(days=shift), tz)
              for key, shift in (("from", 0), ("until", 1)) if days.get(key)}
    return errors, bounds.get("from"), bounds.get("until")


@bp.route("/export/<kind>.<fmt>")
@roles_required("leader", "admin")
def export(kind, fmt):
    """Download an export of kind in fmt, restricted to the user's scope; written to the audit log."""
    if fmt not in kinds.FORMATS.get(kind, ()):
        abort(404)
    errors, since, until = period_errors(request.args)
    if errors:
        return render("admin/export.html", formats=kinds.FORMATS, kinds={**KINDS, "visits": _("Visits")},
                      errors=errors, values=request.args, status=422)
    db = get_db()
    scope = access.cell_scope(db, current_user)
    result = kinds.export(db, kind, fmt, clock(db), cell_ids=scope, since=since, until=until)
    return downloads.download(result["content"], result["filename"], target_type=kind,
                              detail={"rows": result["count"], "personal": result["personal"],
                                      "scope": downloads.scope(scope), "from": since, "until": until})
