"""What every view shares: the request's database, page-or-fragment rendering, role checks."""
import functools
import threading

from flask import abort, current_app, g, render_template, request, url_for
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_compress import Compress
from flask_htmx import HTMX
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect
from jinja2 import pass_context
from markupsafe import Markup

from fieldapp.data import db as database

csrf = CSRFProtect()
htmx = HTMX()
compress = Compress()
# One bar of signal: a member's list of 300 households is 130 KB of HTML, 7 KB gzipped.
COMPRESSED = ["text/html", "text/css", "text/javascript", "application/javascript", "application/json",
              "application/geo+json", "application/manifest+json", "image/svg+xml", "text/csv"]


def init_app(app):
    """Bind the shared extensions and the per-request database to app."""
    from fieldapp import security

    security.init_app(app)  # first: its body limit runs before CSRF protection reads a form
    csrf.init_app(app)
    htmx.init_app(app)
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    compress.init_app(app)
    app.teardown_appcontext(close_db)
    app.context_processor(lambda: {"nav_items": nav_items()})
    app.context_processor(template_gettext)
    app.add_template_filter(localtime)
    app.add_template_global(tag_token)
    app.jinja_env.getattr = dict_keys_first(app.jinja_env.getattr)


_kept = threading.local()


def get_db():
    """The request's database connection: the thread's own, kept open between requests."""
    if "db" not in g:
        g.db = database.kept(_kept, current_app.config["DATABASE"])
    return g.db


def close_db(exc=None):
    """Hand the request's connection back: nothing may stay open inside a transaction."""
    db = g.pop("db", None)
    if db is not None and db.conn.in_transaction:
        db.conn.rollback()


def wants_fragment():
    """True for an htmx request that swaps part of a page (boosts and history restores get pages)."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(page, fragment=None, status=200, **context):
    """Render the whole page, or only its fragment for htmx; the answer varies on HX-Request."""
    template = fragment if fragment and wants_fragment() else page
    response = current_app.make_response((render_template(template, **context), status))
    response.vary.add("HX-Request")
    return response


# Jinja reads `row.name` as an attribute first and as an item only after catching an AttributeError, and the
# rows templates show are dicts: a household page raised and caught hundreds of exceptions. A plain dict has
# no attributes but dict's own, so finding its other keys directly gives exactly what Jinja would.
_DICT_ATTRIBUTES = frozenset(dir(dict))


def dict_keys_first(jinja_getattr):
    """Jinja's attribute lookup, with a plain dict's keys found without the detour through an exception."""

    def getattr_(obj, attribute):
        if type(obj) is dict and type(attribute) is str and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return jinja_getattr(obj, attribute)

    return getattr_


def template_gettext():
    """Templates' `_` and `gettext`, bound once per page to the request's translations.

    The same as Flask-Babel's (jinja2.ext's newstyle gettext: translated, marked safe when autoescaping, then
    formatted with escaped variables), without looking up the request, its locale and its translations again
    at each of the dozens of calls a page makes: that lookup was a third of an empty page's rendering.
    """
    translate = get_translations().ugettext

    @pass_context
    def gettext(context, string, **variables):
        translated = translate(string)
        if context.eval_ctx.autoescape:
            translated = Markup(translated)
        return translated % variables

    return {"_": gettext, "gettext": gettext}


def roles_required(*roles):
    """Allow the view only to signed-in users with one of roles (others get 403)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


# The main navigation: (endpoint, label, icon, roles). Entries whose endpoint does not exist are left out.
NAV = [
    ("households.mine", _l("My households"), "⌂", ("member",)),
    ("coverage.index", _l("Coverage"), "☑", ("member", "leader", "admin")),  # a member: their own cells
    ("map.index", _l("Map"), "◎", ("member", "leader", "admin")),
    ("ledger.index", _l("Ledger"), "☰", ("member", "leader", "admin")),
    ("assignments.index", _l("Assignments"), "⇄", ("leader",)),  # admins reach it from Administration
    ("admin.index", _l("Administration"), "⚙", ("admin",)),
]


def nav_items():
    """The navigation links the signed-in user may follow, the current one marked."""
    if not current_user.is_authenticated:
        return []
    current_blueprint = request.blueprint
    return [
        {"url": url_for(endpoint), "label": label, "icon": icon,
         "active": endpoint.split(".")[0] == current_blueprint}
        for endpoint, label, icon, roles in NAV
        if current_user.role in roles and endpoint in current_app.view_functions
    ]


def clock(db):
    """Today and the time zone as the status queries need them, plus the default cycle."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from fieldapp import rules
    from fieldapp.data import households

    tz = ZoneInfo(current_app.config["TIMEZONE"])
    offset = int(datetime.now(tz).utcoffset().total_seconds() // 60)
    return {"today": rules.today(tz).isoformat(), "offset": f"{offset:+d} minutes",
            "default_cycle": households.default_cycle_days(db)}


def localtime(stamp, pattern="%Y-%m-%d %H:%M"):
    """A stored UTC timestamp as the community's local time, for display."""
    from zoneinfo import ZoneInfo

    from fieldapp import rules

    if not stamp:
        return ""
    return rules.parse_iso(stamp).astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime(pattern)


def tag_token(code):
    """An opaque stand-in for a tag code in URLs: which vulnerable group a filter names stays out of
    browser history and server logs (issue 8). Stable for a deployment, so filtered links can be kept."""
    return _tag_token(current_app.secret_key, code)


@functools.lru_cache(maxsize=256)
def _tag_token(secret_key, code):
    """tag_token under one secret key, computed once: pages ask for every tag's token each time."""
    import hmac

    return hmac.new(secret_key.encode(), f"tag:{code}".encode(), "sha256").hexdigest()[:10]


def tag_from_token(token, codes):
    """The tag code among codes that token stands for, or None."""
    return {tag_token(code): code for code in codes}.get(token)
