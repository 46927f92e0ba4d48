"""Partners (服务平台 / 群团组织): a partner account sees only the requests referred to its platform and answers on
each (accept, reply, ask for information, hand back, mark done); the printable referral slip; and the one rule
that keeps a partner out of every other page."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_login import current_user

from fieldapp import access, inputs, referrals, rules
from fieldapp.access import roles_required
from fieldapp.data import audit, partners
from fieldapp.db import get_db
from fieldapp.i18n import LABELS
from fieldapp.templating import render

bp = Blueprint("partners", __name__, url_prefix="/partner")

MAX_TEXT = 2000
# What a partner may open besides its own area: its landing, signing in and out, its password, the app's files
# and the session the offline scripts ask for; and the blueprints open to everyone (the PWA's files, the
# residents' public report pages, which show no personal data).
PARTNER_ENDPOINTS = {"index", "static", "auth.login", "auth.logout", "accounts.password", "api.session",
                     "api.openapi"}
PARTNER_BLUEPRINTS = {"partners", "pwa", "report"}


@bp.before_app_request
def partners_stay_in_their_area():
    """Refuse a partner every page but its own area's (403): it sees no household, map, register or ledger."""
    if not current_user.is_authenticated or current_user.role != "partner" or request.endpoint is None:
        return None
    if request.blueprint in PARTNER_BLUEPRINTS or request.endpoint in PARTNER_ENDPOINTS:
        return None
    abort(403)


def _partner_or_403():
    """The signed-in partner's platform; 403 for an account without one (it sees nothing)."""
    platform = partners.get(get_db(), current_user.partner_id) if current_user.partner_id else None
    if platform is None:
        abort(403)
    return platform


def _referred_or_404(platform, request_id):
    """The request as platform sees it, if referred to it; otherwise 404, which does not confirm that it exists."""
    found = partners.for_partner(get_db(), platform["id"], request_id)
    if found is None:
        abort(404)
    return found


@bp.route("/")
@roles_required("partner")
def index():
    """The requests referred to the partner's platform: those to act on first, by the day to answer."""
    platform = _partner_or_403()
    today = rules.today().isoformat()
    return render("partners/index.html", platform=platform, referred=partners.listing(get_db(), platform["id"]),
                  today=today)


def _page(platform, found, errors=None, form=None, status=200):
    """A referred request's page for its partner, with errors at the fields of the step that was refused."""
    return render("partners/show.html", platform=platform, item=found, errors=errors or {}, form=form or {},
                  events=partners.events(get_db(), found["referral_id"], found["id"]),
                  steps=referrals.allowed_steps(found["state"]), today=rules.today().isoformat(), status=status,
                  # "Accept" is the review's 认可 elsewhere; a platform accepting a referral is 接收.
                  accept_label=pgettext("partner step", "Accept"))


@bp.route("/requests/<int:request_id>")
@roles_required("partner")
def show(request_id):
    """A request referred to the partner: category, description, address, the days to accept and answer."""
    platform = _partner_or_403()
    found = _referred_or_404(platform, request_id)
    audit.log(get_db(), user_id=current_user.id, action="view_request", target_type="request",
              target_id=request_id, detail={"partner": platform["code"]}, ip=request.remote_addr)
    return _page(platform, found)


# Each step's text field, whether it is required, and what is said when it is missing.
STEP_TEXT = {"accept": ("note", False, None), "done": ("note", False, None),
             "reply": ("reply", True, lambda: _("Write the platform's answer.")),
             "ask": ("question", True, lambda: _("Write what information the platform needs.")),
             "hand_back": ("reason", True, lambda: _("Say why the request is handed back."))}
DONE = {"accept": lambda: _("Accepted: the member and the leader see that the platform works on it."),
        "reply": lambda: _("Reply saved on the request."),
        "ask": lambda: _("Question sent: the member and the leader see it on the request."),
        "hand_back": lambda: _("Handed back to the community with the reason."),
        "done": lambda: _("Marked done: the member resolves the request with the resident.")}


def parse_step(name, form):
    """Check a step's form. Returns (note, errors by field)."""
    field, required, message = STEP_TEXT[name]
    note, errors = (form.get(field) or "").strip(), {}
    if required and not note:
        errors[field] = message()
    elif len(note) > MAX_TEXT:
        errors[field] = _("At most %(n)d characters.", n=MAX_TEXT)
    return note or None, errors


def _refused(platform, found, name):
    """The page again, saying that the referral's state does not allow step name (409)."""
    message = _("This step is not possible for a referral that is %(state)s.",
                state=LABELS["referral_state"][found["state"]])
    return _page(platform, found, {"transition": message, "step": name}, request.form, status=409)


def _step(request_id, name):
    """Check and take one partner step; a refusal changes nothing."""
    platform = _partner_or_403()
    found = _referred_or_404(platform, request_id)
    if name not in referrals.allowed_steps(found["state"]):
        return _refused(platform, found, name)
    note, errors = parse_step(name, request.form)
    version = inputs.whole_number(request.form.get("version"))
    if version is None:
        errors["version"] = _("The form is incomplete; reload the page.")
    if errors:
        return _page(platform, found, {**errors, "step": name}, request.form, status=422)
    try:
        partners.act(get_db(), found["referral_id"], name, user_id=current_user.id, at=rules.iso(rules.utcnow()),
                     version=version, note=note)
    except partners.StaleReferral:
        message = _("The request changed meanwhile, so nothing was saved. The page now shows its current state: "
                    "check it and try again.")
        return _page(platform, _referred_or_404(platform, request_id), {"stale": message, "step": name},
                     request.form, status=409)
    except referrals.IllegalStep:  # taken meanwhile from another page
        return _refused(platform, _referred_or_404(platform, request_id), name)
    flash(DONE[name](), "info")
    if name == "hand_back":
        return redirect(url_for("partners.index"), code=303)
    return redirect(url_for("partners.show", request_id=request_id), code=303)


@bp.route("/requests/<int:request_id>/accept", methods=["POST"])
@roles_required("partner")
def accept(request_id):
    """Accept a referred request: the platform works on it (an open request is then in progress)."""
    return _step(request_id, "accept")


@bp.route("/requests/<int:request_id>/reply", methods=["POST"])
@roles_required("partner")
def reply(request_id):
    """Answer on the request."""
    return _step(request_id, "reply")


@bp.route("/requests/<int:request_id>/ask", methods=["POST"])
@roles_required("partner")
def ask(request_id):
    """Ask the community for information the platform needs."""
    return _step(request_id, "ask")


@bp.route("/requests/<int:request_id>/hand-back", methods=["POST"])
@roles_required("partner")
def hand_back(request_id):
    """Hand the request back to the community with a reason (it is not the platform's matter)."""
    return _step(request_id, "hand_back")


@bp.route("/requests/<int:request_id>/done", methods=["POST"])
@roles_required("partner")
def done(request_id):
    """Mark the platform's part done; the member resolves the request with the resident."""
    return _step(request_id, "done")


@bp.route("/requests/<int:request_id>/slip")
@roles_required("member", "leader", "admin", "partner")
def slip(request_id):
    """The printable referral slip (转介单) for a platform that works on paper: staff who see the request, or its
    partner."""
    db = get_db()
    if current_user.role == "partner":
        found = _referred_or_404(_partner_or_403(), request_id)
    else:
        request_row = access.request_or_404(db, current_user, request_id)
        referral = partners.current(db, request_id)
        if referral is None or referral["state"] == "withdrawn":
            abort(404)
        found = {**request_row, **referral, "id": request_id}
    return render("partners/slip.html", item=found, printed_at=rules.iso(rules.utcnow()))
