"""What protects every request: body limits, where a write came from, session timeouts, sign-in throttling,
headers, HTTPS behind a proxy.

Throttling lives in the database (login_attempts), so that every gunicorn worker counts the same
failures; session timeouts are checked on the server from the sign-in time carried in the signed session id.
"""
import hashlib
import hmac
import math
import os
import secrets
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, flash, jsonify, redirect, request, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, logout_user, user_loaded_from_cookie
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.middleware.proxy_fix import ProxyFix

from fieldapp import rules
from fieldapp.data import audit
from fieldapp.data import security as attempts
from fieldapp.db import get_db

# Setting -> default; FIELDAPP_<NAME> in the environment overrides it (test configs override both).
SETTINGS = {
    "SESSION_IDLE_MINUTES": 60,      # without remember-me: signed out after an hour without activity
    "SESSION_ABSOLUTE_HOURS": 12,    # without remember-me: a sign-in lasts one working day at most
    "LOGIN_WINDOW_MINUTES": 15,      # failures older than this no longer count
    "LOGIN_MAX_FAILURES": 5,         # per account and address, or per known device (since the last success)
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": 20,  # per account from devices that never signed in to it
    "LOGIN_MAX_FAILURES_PER_ADDRESS": 20,  # per address: a community office shares one
    "MAX_BODY_MB": 2,                # JSON and form bodies; file uploads have MAX_CONTENT_LENGTH
}
# Requests that are not the person's activity: the phone asks for its session every 30 s while visits wait.
PASSIVE = {"api.session", "pwa.service_worker", "pwa.manifest", "pwa.offline", "api.openapi"}
SEEN_RESOLUTION = 60  # seconds: the session cookie is rewritten at most once a minute
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob: https:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'self'; form-action 'self'")


def init_app(app):
    """Read the settings, wrap the WSGI app (proxy, Secure cookies) and hook every request."""
    for name, default in SETTINGS.items():
        raw = os.environ.get(f"FIELDAPP_{name}")
        app.config.setdefault(name, int(raw) if raw is not None else default)
    app.wsgi_app = SecureCookies(app.wsgi_app)
    if app.config.get("BEHIND_PROXY"):
        # One proxy in front (nginx, a load balancer): trust its X-Forwarded-For/-Proto/-Host/-Port/-Prefix.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
    app.before_request(limit_body)
    app.before_request(check_origin)
    app.before_request(refuse_nul)
    app.before_request(enforce_session_limits)
    app.after_request(security_headers)
    user_loaded_from_cookie.connect(_remembered, app)


# --- HTTPS: Secure cookies and HSTS -------------------------------------------------------------------------

class SecureCookies:
    """Mark every cookie Secure when the request came over HTTPS (as ProxyFix reports it behind a proxy)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        """Pass the request on; over HTTPS, add Secure to each Set-Cookie of the answer."""
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def secure_start_response(status, headers, exc_info=None):
            headers = [(name, secure_cookie(value) if name.lower() == "set-cookie" else value)
                       for name, value in headers]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, secure_start_response)


def secure_cookie(header):
    """A Set-Cookie value with the Secure attribute."""
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    return header if "secure" in attributes else f"{header}; Secure"


def security_headers(response):
    """Headers every answer carries; nothing but static files may be stored by the browser's HTTP cache."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self), microphone=(), payment=(), usb=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    # Pages, JSON and exports carry personal data: never kept by the HTTP cache (the service worker keeps only
    # the offline copy's pages, bound to their session: fieldapp/offline.py). Revalidated views set their own.
    if request.endpoint != "static":
        headers.setdefault("Cache-Control", "no-store")
    return response


# --- Where a state-changing request came from -----------------------------------------------------------------

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def own_origin():
    """This app's host[:port] as the browser addressed it (behind a proxy, as ProxyFix reports it)."""
    return request.host.lower()


def claimed_origin():
    """The host[:port] a request says it came from: its Origin header's, else its Referer's; None when it names
    none. The scheme is left out: behind a TLS proxy that is not declared the app sees http where the browser
    saw https, and no other site can send this host as its origin anyway."""
    value = request.headers.get("Origin")  # present but empty or opaque: "null", never this host
    if value is None:
        value = request.headers.get("Referer") or None
        if value is None:
            return None
    parts = urlsplit(value.strip())
    return parts.netloc.lower() if parts.scheme in ("http", "https") else "null"


def check_origin():
    """Refuse a state-changing request that a browser says came from another site (or from an opaque "null").

    Browsers send Origin with every cross-site POST, so a forged form is stopped here before anything reads it;
    a client that sends neither Origin nor Referer (not a browser) is left to the CSRF token.
    """
    if request.method in SAFE_METHODS:
        return None
    claimed = claimed_origin()
    if claimed is None or claimed == own_origin():
        return None
    return refusal(403, _("This was not sent: it did not come from a page of this app. Nothing was changed."))


def from_this_site():
    """Whether the browser says the request came from this app's own pages (Sec-Fetch-Site, Origin or Referer)."""
    return request.headers.get("Sec-Fetch-Site") == "same-origin" or claimed_origin() == own_origin()


def token_of_this_session(token):
    """Whether a CSRF token, however old, was made for this browser's current session: a form left open too
    long, not a form that another site or another session filled in."""
    raw = session.get("csrf_token")
    if not raw or not token:
        return False
    signer = URLSafeTimedSerializer(current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key,
                                    salt="wtf-csrf-token")  # Flask-WTF's own signer, read without the age limit
    try:
        value = signer.loads(token)
    except BadData:
        return False
    return isinstance(value, str) and hmac.compare_digest(raw, value)


def may_offer_resend():
    """Whether a form refused for its CSRF token may be offered again, filled in: only a stale form of this
    site in this session. A cross-site POST gets no second, valid token for what another site wrote."""
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
    return from_this_site() and token_of_this_session(token)


# --- Characters no database stores ---------------------------------------------------------------------------

def _nul_field():
    """The name of the first query, form or JSON field holding a NUL character (PostgreSQL's text cannot hold
    one, SQLite's would cut it short elsewhere), or None. Uploaded files are not fields: binary files hold NULs."""
    sources = (request.args, request.form) if request.method not in SAFE_METHODS else (request.args,)
    for source in sources:
        for name, value in source.items(multi=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "") or "?"
    if request.method not in SAFE_METHODS and request.is_json:
        body = request.get_data(cache=True)
        if b"\x00" in body or b"\\u0000" in body:  # JSON writes its escape with a small u; 0 has no case
            return "JSON"
    return None


def refuse_nul():
    """Refuse a request whose query, form or JSON holds a NUL character, naming the field, before any view."""
    if request.method not in SAFE_METHODS and None in request.form:  # a multipart part without a name
        return refusal(400, _("A part of the form has no name. Nothing was changed."))
    field = _nul_field()
    if field is not None:
        return refusal(400, _("“%(field)s” holds a NUL character (\\0), which cannot be stored. Nothing was changed.",
                              field=field))
    return None


# --- Body limits ----------------------------------------------------------------------------------------------

# The API's file uploads: their view sets their limit, and a body over it gets a JSON 413 from their blueprint.
FILE_APIS = {"api.upload_photo"}


def limit_body():
    """Refuse a body over its limit from Content-Length alone, before anything reads it."""
    body_limit = current_app.config["MAX_BODY_MB"] * 1024 * 1024
    upload = request.mimetype == "multipart/form-data" and (
        not request.path.startswith("/api/") or request.endpoint in FILE_APIS)
    # Uploads keep the app's (or their view's) limit and its handler's page; other bodies get the small one.
    limit = request.max_content_length if upload else min(request.max_content_length or body_limit, body_limit)
    if not upload:
        request.max_content_length = limit  # also stops a chunked body that has no Content-Length
    if request.content_length and request.content_length > limit and not upload:
        return too_large(limit)
    return None


def too_large(limit):
    """The 413 answer for a body over limit bytes."""
    return refusal(413, _("The request is too large: at most %(mb)d MB.", mb=max(1, limit // (1024 * 1024))))


def refusal(code, message):
    """A request refused before any view ran: JSON for the API, the error page otherwise."""
    if request.path.startswith("/api/"):
        return jsonify({"error": message}), code
    return render_template("errors/error.html", code=code, message=message), code


# --- Sessions: idle and absolute timeouts --------------------------------------------------------------------

def now_seconds():
    """The time in whole seconds since the epoch: what session limits are measured in."""
    return int(time.time())


def start_session(remember):
    """Note at sign-in whether the session is remembered (phones) and that it is active now."""
    session["remembered"] = bool(remember)
    session["seen_at"] = now_seconds()


def _remembered(app, user=None, **_kw):
    """A session restored from the remember-me cookie is a remembered one, active now."""
    start_session(True)


def session_expired(*, now, signed_in_at, seen_at, remembered, idle, absolute, remember_for):
    """Why a session has ended ("idle", "absolute") or None; times in seconds since the epoch."""
    if now - signed_in_at > (remember_for if remembered else absolute):
        return "absolute"
    if not remembered and now - seen_at > idle:
        return "idle"
    return None


def enforce_session_limits():
    """End a session past its idle or absolute limit; otherwise note the activity."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    config = current_app.config
    now = now_seconds()
    remember_for = config.get("REMEMBER_COOKIE_DURATION", timedelta(days=30))
    reason = session_expired(
        now=now, signed_in_at=getattr(current_user, "signed_in_at", now), seen_at=session.get("seen_at", now),
        remembered=session.get("remembered", False), idle=config["SESSION_IDLE_MINUTES"] * 60,
        absolute=config["SESSION_ABSOLUTE_HOURS"] * 3600, remember_for=int(remember_for.total_seconds()))
    if reason:
        audit.log(get_db(), user_id=current_user.id, action="session_expired", detail={"reason": reason},
                  ip=request.remote_addr)
        logout_user()
        session.pop("seen_at", None)
        if request.endpoint in PASSIVE:
            return None  # the phone's session check simply hears that nobody is signed in
        message = _("Your session has ended. Please sign in again.")
        if request.blueprint == "api":
            return jsonify({"error": message, "signed_in": False}), 401
        flash(message, "info")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if request.endpoint not in PASSIVE and now - session.get("seen_at", 0) >= SEEN_RESOLUTION:
        session["seen_at"] = now
    return None


# --- Sign-in throttling --------------------------------------------------------------------------------------

def wait_seconds(failures, now, limit, window):
    """Seconds until another attempt is allowed, given failure times (oldest first); 0 when allowed.

    The limit-th most recent failure must have left the window before the next attempt.
    """
    if len(failures) < limit:
        return 0
    return max(0, math.ceil(failures[-limit] + window - now))


def login_wait(db, username, ip, device=None):
    """Minutes the person must wait before signing in as username from ip on device (0: go ahead).

    The policy (README, Security and privacy): a device that has signed in to the account before counts only
    its own failures, so no stranger can lock the owner out; any other device waits after 5 failures for the
    account from its address, after 20 for the account from anywhere, or after 20 from its address for any
    account — within 15 minutes, and since the account's last success.
    """
    config = current_app.config
    window = config["LOGIN_WINDOW_MINUTES"] * 60
    now = rules.utcnow()
    found = attempts.recent_failures(db, username=username, ip=ip, device=device,
                                     since=rules.iso(now - timedelta(seconds=window)))
    if attempts.is_known_device(db, username, device):
        limits = {"device": config["LOGIN_MAX_FAILURES"]}
    else:
        limits = {"account_address": config["LOGIN_MAX_FAILURES"],
                  "account": config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
                  "address": config["LOGIN_MAX_FAILURES_PER_ADDRESS"]}
    stamp = now.timestamp()
    seconds = max(wait_seconds([rules.parse_iso(at).timestamp() for at in found[key]], stamp, limit, window)
                  for key, limit in limits.items())
    return math.ceil(seconds / 60)


def throttle_message(minutes):
    """What a throttled person reads."""
    return ngettext("Too many failed sign-ins. Try again in %(num)d minute.",
                    "Too many failed sign-ins. Try again in %(num)d minutes.", minutes)


def record_attempt(db, username, ip, success, device=None):
    """Count a sign-in attempt (or a wrong current password) for the throttle."""
    attempts.record_attempt(db, username=username, ip=ip, device=device, success=success,
                            at=rules.iso(rules.utcnow()))


# A random id per browser, set at each successful sign-in: the throttle tells the owner's phone from a stranger's.
DEVICE_COOKIE = "fieldapp_device"
DEVICE_DAYS = 400


def device_id():
    """This browser's device id as the throttle stores it (a hash of its cookie), or None."""
    raw = request.cookies.get(DEVICE_COOKIE, "")
    if not 20 <= len(raw) <= 100:
        return None
    return hashlib.sha256(raw.encode()).hexdigest()


def keep_device(response):
    """Give the browser a device cookie if it has none; returns its device id."""
    raw = request.cookies.get(DEVICE_COOKIE, "")
    if not 20 <= len(raw) <= 100:
        raw = secrets.token_urlsafe(32)
    response.set_cookie(DEVICE_COOKIE, raw, max_age=DEVICE_DAYS * 86400, httponly=True, samesite="Lax",
                        path="/")
    return hashlib.sha256(raw.encode()).hexdigest()
