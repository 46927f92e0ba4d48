"""Sign-in, sign-out and the signed-in user; each role's landing page."""
from urllib.parse import unquote, urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user

from fieldapp import security
from fieldapp.data import audit, users
from fieldapp.db import get_db

bp = Blueprint("auth", __name__, url_prefix="/auth")
login_manager = LoginManager()
hasher = PasswordHasher()
# Verified when the user is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = hasher.hash("not a password")

LANDING = {"member": "households.mine", "leader": "coverage.index", "admin": "admin.index",
           "partner": "partners.index"}


class User(UserMixin):
    """The signed-in account, as flask-login sees it."""

    def __init__(self, row, signed_in_at=None):
        self.row = row
        # When the password was checked (seconds): the absolute session limit counts from here.
        self.signed_in_at = int(signed_in_at if signed_in_at is not None else security.now_seconds())
        self.id = row["id"]
        self.username = row["username"]
        self.display_name = row["display_name"]
        self.role = row["role"]
        self.grid_id = row["grid_id"]
        self.partner_id = row.get("partner_id")
        self.must_change_password = bool(row["must_change_password"])

    def get_id(self):
        """Session id: the user id, its epoch (bumping it ends every session) and the sign-in time."""
        return f"{self.id}:{self.row['session_epoch']}:{self.signed_in_at}"


def init_app(app):
    """Bind flask-login to app."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to continue.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = app.config["SESSION_PROTECTION"]


@login_manager.unauthorized_handler
def unauthorized():
    """Send a signed-out visitor to sign in; the phone's API gets a 401 it can wait on instead."""
    if request.blueprint == "api":
        return jsonify({"error": _("Please sign in to continue."), "signed_in": False}), 401
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


@login_manager.user_loader
def load_user(session_id):
    """Load the user of a session; a disabled user or an ended session loads nobody."""
    user_id, epoch, signed_in_at = (session_id.split(":") + ["", ""])[:3]
    if not user_id.isdigit() or not signed_in_at.isdigit():
        return None
    row = users.get(get_db(), int(user_id))
    if row is None or not row["active"] or str(row["session_epoch"]) != epoch:
        return None
    return User(row, int(signed_in_at))


def hash_password(password):
    """Hash a password with argon2id."""
    return hasher.hash(password)


def check_password(row, password):
    """Whether password is the user's; verifies a dummy hash for unknown users (same timing)."""
    try:
        return hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password) and row is not None
    except (VerificationError, InvalidHashError):
        return False


def landing():
    """Send a visitor to their role's landing page, or to sign in."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for(LANDING[current_user.role]))


def safe_next(target):
    """The next= path to follow after sign-in if it surely stays on this site, else None.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash, so "/\t/evil.example" and
    "/\\evil.example" are "//evil.example", another site. Only a plain path passes: it starts with one slash,
    and neither it nor any percent-decoding of it holds a control character, a space, a backslash, a second
    leading slash or a scheme.
    """
    if not isinstance(target, str) or not target or len(target) > 2000:
        return None
    forms = [target]
    for _round in range(3):  # %25252F... decodes step by step
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    for form in forms:
        if not form.startswith("/") or form.startswith("//") or "\\" in form:
            return None
        if any(ord(char) < 32 or ord(char) == 127 or char.isspace() for char in form):
            return None
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; sign in with username and password."""
    if current_user.is_authenticated and request.method == "GET":
        return landing()
    error = None
    username = request.form.get("username", "").strip()
    if request.method == "POST":
        password = request.form.get("password", "")
        db = get_db()
        device = security.device_id()
        wait = security.login_wait(db, username, request.remote_addr, device)
        if wait:  # too many failures for this account or from this address: no password is checked
            audit.log(db, user_id=None, action="login_throttled", detail={"username": username[:64]},
                      ip=request.remote_addr)
            response = render_template("auth/login.html", error=security.throttle_message(wait), username=username)
            return response, 429, {"Retry-After": str(wait * 60)}
        row = users.by_username(db, username) if username else None
        if not username or not password or not check_password(row, password) or not row["active"]:
            security.record_attempt(db, username, request.remote_addr, success=False, device=device)
            # One neutral message: never say whether the name or the password was wrong.
            error = _("Wrong username or password, or the account is disabled.")
            audit.log(db, user_id=row["id"] if row else None, action="login_failed",
                      detail={"username": username[:64]}, ip=request.remote_addr)
        else:
            rehash = hash_password(password) if hasher.check_needs_rehash(row["password_hash"]) else None
            users.record_login(db, row["id"], rehash)
            response = redirect(safe_next(request.args.get("next")) or url_for("index"))
            device = security.keep_device(response)
            security.record_attempt(db, username, request.remote_addr, success=True, device=device)
            audit.log(db, user_id=row["id"], action="login", ip=request.remote_addr)
            login_user(User(row), remember=bool(request.form.get("remember")))
            security.start_session(bool(request.form.get("remember")))
            return response
    return render_template("auth/login.html", error=error, username=username), 401 if error else 200


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out everywhere (the epoch moves on, so a copied cookie is worthless) and go to the sign-in page."""
    audit.log(get_db(), user_id=current_user.id, action="logout", ip=request.remote_addr)
    users.end_sessions(get_db(), current_user.id)
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))
