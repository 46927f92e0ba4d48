"""What templates see and how pages are rendered: page or fragment, the bound gettext, filters, globals, the
navigation, and the template environment itself."""
import functools
import hmac
from zoneinfo import ZoneInfo

import flask.templating
from flask import current_app, render_template, request, url_for
from flask_babel import get_locale, get_translations
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

from fieldapp import i18n, rules
from fieldapp.extensions import htmx

# Jinja reads `row.name` as an attribute first and as an item only after catching an AttributeError, and the
# rows templates show are dicts: a household page raised and caught hundreds of exceptions. A plain dict has
# no attributes but dict's own, so finding its other keys directly gives exactly what Jinja would.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class DictKeysFirst:
    """A Jinja environment's attribute lookup, with a plain dict's keys found without the detour through an
    exception; put it before the environment class it changes."""

    def getattr(self, obj, attribute):
        """obj.attribute as the environment reads it: a plain dict's own key at once, anything else as before."""
        if type(obj) is dict and type(attribute) is str and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


class Environment(DictKeysFirst, flask.templating.Environment):
    """The app's template environment (Flask's, set as the app class's `jinja_environment`)."""


def init_app(app):
    """Give app's templates the navigation, the bound gettext, the localtime filter and tag tokens."""
    app.context_processor(lambda: {"nav_items": nav_items()})
    app.context_processor(template_gettext)
    app.add_template_filter(localtime)
    app.add_template_global(tag_token)


def wants_fragment():
    """True for an htmx request that swaps part of a page (boosts and history restores get pages)."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(page, fragment=None, status=200, **context):
    """Render the whole page, or only its fragment for htmx; the answer varies on HX-Request."""
    template = fragment if fragment and wants_fragment() else page
    response = current_app.make_response((render_template(template, **context), status))
    response.vary.add("HX-Request")
    return response


class Fragments:
    """A small template rendered once for each distinct set of values it shows and kept (the least recently used
    go first): for the pieces a page repeats by the hundred, such as the rows of a member's list.

    The values are the key, with the language and the script root, so whatever changes a piece (a visit, a
    request, a tag, a register change, another language) makes another key: nothing is ever stale, nothing needs
    clearing. The template sees `row` (each field with its value), `labels` and the bound `_`, nothing else of
    the request.
    """

    def __init__(self, name, fields, kept=30_000):  # each kept with its key: a list's row about 2 KB
        self.name, self.fields = name, tuple(fields)
        self._kept = functools.lru_cache(maxsize=kept)(self._render)

    def html(self, values):
        """The pieces for values (tuples in the order of fields) as one piece of HTML."""
        where = (str(get_locale()), request.script_root)
        render_one = self._render if current_app.jinja_env.auto_reload else self._kept  # templates being edited
        return Markup("".join([render_one(where, each) for each in values]))

    def _render(self, where, values):
        """One piece, in the request's language (which where names)."""
        template = current_app.jinja_env.get_template(self.name)
        return template.render(row=dict(zip(self.fields, values)), labels=i18n.labels(), **template_gettext())


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


# The main navigation: (endpoint, label, icon, roles). Entries whose endpoint does not exist are left out.
NAV = [
    ("households.mine", _l("My households"), "⌂", ("member",)),
    ("coverage.index", _l("Coverage"), "☑", ("member", "leader", "admin")),  # a member: their own cells
    ("map.index", _l("Map"), "◎", ("member", "leader", "admin")),
    ("ledger.index", _l("Ledger"), "☰", ("member", "leader", "admin")),
    ("assignments.index", _l("Assignments"), "⇄", ("leader",)),  # admins reach it from Administration
    ("review.index", _l("Review"), "✔", ("leader", "admin")),
    ("triage.index", _l("Triage"), "⇣", ("member", "leader", "admin")),  # residents' reports by QR code
    ("service.index", _l("Service records"), "★", ("leader",)),  # admins reach it from Administration
    ("admin.index", _l("Administration"), "⚙", ("admin",)),
    ("partners.index", _l("Referred requests"), "☰", ("partner",)),
]


def nav_items():
    """The navigation links the signed-in user may follow, the current one marked."""
    if not current_user.is_authenticated:
        return []
    current_blueprint = request.blueprint
    return [
        {"url": url_for(endpoint), "label": str(label), "icon": icon,  # translated once, shown twice
         "active": endpoint.split(".")[0] == current_blueprint}
        for endpoint, label, icon, roles in NAV
        if current_user.role in roles and endpoint in current_app.view_functions
    ]


def localtime(stamp, pattern="%Y-%m-%d %H:%M"):
    """A stored UTC timestamp as the community's local time, for display."""
    if not stamp:
        return ""
    return _localtime(stamp, pattern, current_app.config["TIMEZONE"])


@functools.lru_cache(maxsize=8192)
def _localtime(stamp, pattern, zone):
    """localtime in the time zone named zone, worked out once: a household's page shows the same stamps each time."""
    return rules.parse_iso(stamp).astimezone(ZoneInfo(zone)).strftime(pattern)


def tag_token(code):
    """An opaque stand-in for a tag code in URLs: which vulnerable group a filter names stays out of
    browser history and server logs. Stable for a deployment, so filtered links can be kept."""
    return _tag_token(current_app.secret_key, code)


@functools.lru_cache(maxsize=256)
def _tag_token(secret_key, code):
    """tag_token under one secret key, computed once: pages ask for every tag's token each time."""
    return hmac.new(secret_key.encode(), f"tag:{code}".encode(), "sha256").hexdigest()[:10]


def tag_from_token(token, codes):
    """The tag code among codes that token stands for, or None."""
    return {tag_token(code): code for code in codes}.get(token)
