"""Accounts: the admin's list of users (create, disable, reset password) and everyone's own password."""
import secrets

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from fieldapp import auth, rules, security
from fieldapp.data import audit, partners, users
from fieldapp.data import security as attempts
from fieldapp.access import roles_required
from fieldapp.db import get_db
from fieldapp.templating import render

bp = Blueprint("accounts", __name__, url_prefix="/accounts")
MIN_PASSWORD = 10
# Among the most used passwords (and those of this app's demo); a password must not be one of them.
COMMON_PASSWORDS = {
    "1234567890", "12345678910", "0123456789", "9876543210", "1111111111", "0000000000", "1234512345",
    "1q2w3e4r5t", "qwertyuiop", "qwerty1234", "1qaz2wsx3edc", "1qaz2wsx", "asdfghjkl", "asdfghjkl1",
    "password123", "password12", "password1!", "passw0rd123", "iloveyou123", "5201314520", "woaini1314",
    "abc1234567", "abcd123456", "a123456789", "aa123456789", "123456789a", "123456789q", "qq123456789",
    "zxcvbnm123", "admin12345", "administrator", "demo123456", "demo1234demo", "welcome123", "changeme123",
    "88888888888", "66666666666", "1314520520", "zerodistance", "lingjuli123",
}
OTP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or copied from a screen


@bp.before_app_request
def require_password_change(exempt=("accounts.password", "auth.logout", "auth.login", "static")):
    """A user who signed in with a one-time password may only change it (or sign out)."""
    # The PWA's files (service worker, manifest) must load on any page, this one included.
    if current_user.is_authenticated and current_user.must_change_password and request.endpoint not in exempt \
            and request.blueprint != "pwa":
        return redirect(url_for("accounts.password"))
    return None


def password_problems(password, username=""):
    """Why a new password is not good enough (empty list: it is)."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(_("At least %(n)d characters.", n=MIN_PASSWORD))
    if password.lower() in COMMON_PASSWORDS or (username and username.lower() in password.lower()):
        problems.append(_("Too easy to guess: it is a common password or contains the username."))
    return problems


def one_time_password():
    """A random password to hand over once; its owner must change it at first sign-in."""
    return "".join(secrets.choice(OTP_ALPHABET) for _i in range(12))


@bp.route("/")
@roles_required("admin")
def users_list():
    """Every account with role, grid, state and the cells it holds."""
    return render("accounts/users.html", accounts=users.accounts(get_db()), issued=None)


def account_errors(form, grid_ids, partner_ids=()):
    """What is wrong with a new account's form."""
    errors = {}
    username = form.get("username", "").strip()
    if not username or len(username) > 40 or any(ch.isspace() for ch in username):
        errors["username"] = _("A username of 1 to 40 characters without spaces.")
    elif users.by_username(get_db(), username):
        errors["username"] = _("This username is taken.")
    if form.get("role") not in ("member", "leader", "admin", "partner"):
        errors["role"] = _("Choose a role.")
    if form.get("role") == "leader" and form.get("grid", "") not in grid_ids:
        errors["grid"] = _("A grid leader needs a grid.")
    if form.get("role") == "partner" and form.get("partner", "") not in partner_ids:
        errors["partner"] = _("A partner account needs its service platform or organisation.")
    return errors


@bp.route("/new", methods=["GET", "POST"])
@roles_required("admin")
def new():
    """Create an account with a one-time password that its owner changes at first sign-in."""
    db = get_db()
    grids, platforms = users.grids(db), partners.partners(db)
    errors = {}
    if request.method == "POST":
        errors = account_errors(request.form, {str(g["id"]) for g in grids}, {str(p["id"]) for p in platforms})
        if not errors:
            password = one_time_password()
            role = request.form["role"]
            user_id = users.create(db, username=request.form["username"].strip(), role=role,
                                   display_name=request.form.get("display_name", "").strip()[:60] or None,
                                   grid_id=int(request.form["grid"]) if role == "leader" else None,
                                   partner_id=int(request.form["partner"]) if role == "partner" else None,
                                   password_hash=auth.hash_password(password), must_change_password=True)
            audit.log(db, user_id=current_user.id, action="create_user", target_type="user", target_id=user_id,
                      ip=request.remote_addr)
            return render("accounts/users.html", accounts=users.accounts(db),
                          issued={"user": users.get(db, user_id), "password": password})
    return render("accounts/new.html", grids=grids, partners=platforms, errors=errors, form=request.form, status=422 if errors else 200)


def _account(user_id):
    """The account user_id, or 404."""
    account = users.get(get_db(), user_id)
    if account is None:
        abort(404)
    return account


def _set_active(user_id, active, message):
    """Enable or disable an account (audited) and go back to the list with message(account) flashed."""
    account = _account(user_id)
    users.set_active(get_db(), user_id, active)
    audit.log(get_db(), user_id=current_user.id, action="enable_user" if active else "disable_user",
              target_type="user", target_id=user_id, ip=request.remote_addr)
    flash(message(account), "info")
    return redirect(url_for("accounts.users_list"), code=303)


@bp.route("/<int:user_id>/disable", methods=["POST"])
@roles_required("admin")
def disable(user_id):
    """Disable an account: its sessions end at once; its history stays."""
    if user_id == current_user.id:
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for("accounts.users_list"), code=303)
    return _set_active(user_id, False, lambda account: _("%(name)s is disabled and signed out everywhere.",
                                                         name=account["username"]))


@bp.route("/<int:user_id>/enable", methods=["POST"])
@roles_required("admin")
def enable(user_id):
    """Enable a disabled account again."""
    return _set_active(user_id, True, lambda account: _("%(name)s can sign in again.", name=account["username"]))


@bp.route("/<int:user_id>/reset-password", methods=["POST"])
@roles_required("admin")
def reset_password(user_id):
    """Give an account a one-time password (shown once); its sessions end and it must be changed."""
    account = _account(user_id)
    password = one_time_password()
    db = get_db()
    users.set_password(db, user_id, auth.hash_password(password), must_change=True)
    # The one-time password works at once, from any device; a lost phone is a stranger again.
    attempts.lift_throttle(db, account["username"], rules.iso(rules.utcnow()))
    attempts.forget_devices(db, account["username"])
    audit.log(db, user_id=current_user.id, action="reset_password", target_type="user", target_id=user_id,
              ip=request.remote_addr)
    return render("accounts/users.html", accounts=users.accounts(db), issued={"user": account, "password": password})


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """Change one's own password (required after a one-time password)."""
    errors = {}
    if request.method == "POST":
        db = get_db()
        row = users.get(db, current_user.id)
        device = security.device_id()
        # The current password is guessed here as at sign-in (a session left open): the same throttle.
        wait = security.login_wait(db, row["username"], request.remote_addr, device)
        if wait:
            audit.log(db, user_id=row["id"], action="password_throttled", ip=request.remote_addr)
            return render("accounts/password.html", errors={"current": security.throttle_message(wait)},
                          min_length=MIN_PASSWORD, required=current_user.must_change_password, status=429)
        if not auth.check_password(row, request.form.get("current", "")):
            security.record_attempt(db, row["username"], request.remote_addr, success=False, device=device)
            audit.log(db, user_id=row["id"], action="password_failed", ip=request.remote_addr)
            errors["current"] = _("This is not your current password.")
        new_password = request.form.get("new", "")
        problems = password_problems(new_password, row["username"])
        if problems:
            errors["new"] = " ".join(problems)
        elif new_password != request.form.get("again", ""):
            errors["again"] = _("The two new passwords differ.")
        elif new_password == request.form.get("current", ""):
            errors["new"] = _("Choose a password different from the current one.")
        if not errors:
            users.set_password(db, row["id"], auth.hash_password(new_password), must_change=False)
            audit.log(db, user_id=row["id"], action="change_password", ip=request.remote_addr)
            # This session goes on under the new epoch; a remember-me cookie is renewed with it.
            login_user(auth.User(users.get(db, row["id"])), remember="remember_token" in request.cookies)
            flash(_("Your password is changed; your other sessions are signed out."), "info")
            return redirect(url_for("index"), code=303)
    return render("accounts/password.html", errors=errors, min_length=MIN_PASSWORD,
                  required=current_user.must_change_password, status=422 if errors else 200)
