"""The admin's settings: the default visit cycle, per-tag cycles, per-category time limits, what counts as contact."""
from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from fieldapp import inputs, rules
from fieldapp.data import settings
from fieldapp.access import roles_required
from fieldapp.db import get_db
from fieldapp.templating import render

bp = Blueprint("settings", __name__, url_prefix="/admin/settings")

MAX_DAYS = 365


def _days(raw, *, blank_ok=False):
    """Whole days 1..365 from form text; None for a blank when allowed; ValueError otherwise."""
    raw = (raw or "").strip()
    if not raw and blank_ok:
        return None
    days = inputs.whole_number(raw, low=1, high=MAX_DAYS)
    if days is None:
        raise ValueError
    return days


def parse_settings(form, known):
    """Read the settings form against the known tags and categories. Returns (values, errors by field)."""
    errors, tag_cycles, category_days = {}, {}, {}
    message = _("Enter a whole number of days from 1 to %(n)d.", n=MAX_DAYS)
    default = None
    try:
        default = _days(form.get("default_cycle_days"))
    except ValueError:
        errors["default_cycle_days"] = message
    for tag in known["tags"]:
        try:
            tag_cycles[tag["code"]] = _days(form.get(f"tag_{tag['code']}"), blank_ok=True)
        except ValueError:
            errors[f"tag_{tag['code']}"] = _("Enter a whole number of days from 1 to %(n)d, or leave it empty "
                                             "for the default cycle.", n=MAX_DAYS)
    for category in known["categories"]:
        try:
            category_days[category["code"]] = _days(form.get(f"category_{category['code']}"))
        except ValueError:
            errors[f"category_{category['code']}"] = message
    attempts = inputs.whole_number(form.get("unreachable_attempts"), low=1, high=rules.MAX_UNREACHABLE_ATTEMPTS)
    if attempts is None:
        errors["unreachable_attempts"] = _("Enter a whole number of attempts from 1 to %(n)d.",
                                           n=rules.MAX_UNREACHABLE_ATTEMPTS)
    phone = form.get("phone_calls_weekly", "")
    if phone not in ("", "1"):  # a checkbox: sent as 1 when ticked, absent when not
        errors["phone_calls_weekly"] = _("Tick the box or leave it empty.")
    return {"default_cycle_days": default, "tag_cycles": tag_cycles, "category_days": category_days,
            "unreachable_attempts": attempts, "phone_calls_weekly": phone == "1"}, errors


@bp.route("/", methods=["GET", "POST"])
@roles_required("admin")
def index():
    """Show and change the visit cycles, the requests' time limits and what counts as contact."""
    db = get_db()
    known = settings.current(db)
    errors = {}
    if request.method == "POST":
        values, errors = parse_settings(request.form, known)
        if not errors:
            changes = settings.save(db, **values, user_id=current_user.id, ip=request.remote_addr)
            flash(_("Settings saved.") if changes else _("Nothing was changed."), "info")
            return redirect(url_for("settings.index"))
    return render("settings/index.html", known=known, errors=errors,
                  form=request.form if errors else None, status=422 if errors else 200)
