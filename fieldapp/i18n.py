"""Languages (Simplified Chinese by default, English) and the translated names of domain codes."""
from flask import g, request
from flask_babel import Babel, get_locale, lazy_gettext as _l, lazy_pgettext

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT = "zh"
COOKIE = "lang"

babel = Babel()


def init_app(app):
    """Bind Flask-Babel with the locale choice below, and remember a chosen language."""
    babel.init_app(app, locale_selector=select_locale, default_locale=DEFAULT,
                   default_timezone=app.config["TIMEZONE"])
    app.after_request(remember_choice)
    app.context_processor(lambda: {"LANGUAGES": LANGUAGES, "labels": labels(), "lang": select_locale()})


_TRANSLATED = {}  # language: LABELS translated into it


def labels():
    """LABELS in the request's language as plain dicts, translated once per language and process rather than on
    every page (a hundred lazy strings). Every request in that language shares them: read them, never change them."""
    language = str(get_locale())
    found = _TRANSLATED.get(language)
    if found is None:
        found = _TRANSLATED[language] = {group: {code: str(label) for code, label in names.items()}
                                         for group, names in LABELS.items()}
    return found


def select_locale():
    """?lang= first, then the remembered choice, then Accept-Language (zh-CN etc. match zh)."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        g.lang_choice = chosen
        return chosen
    remembered = request.cookies.get(COOKIE)
    if remembered in LANGUAGES:
        return remembered
    # Werkzeug matches a zh-CN / zh-Hans-CN header against the primary tag "zh".
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT)


def remember_choice(response):
    """Keep a ?lang= choice in a cookie for a year."""
    chosen = g.get("lang_choice")
    if chosen and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


# Domain codes are stored in English; what people read is here, translated.
LABELS = {
    "role": {"member": _l("Member"), "leader": _l("Grid leader"), "admin": _l("Administrator"),
             "partner": _l("Partner")},
    "status": {
        "overdue_request": _l("Overdue request"),
        "open_request": _l("Open request"),
        "due": _l("Due for a visit"),
        "visited": _l("Visited this cycle"),
        "vacant": _l("Vacant"),
    },
    "outcome": {
        "met": _l("Met resident(s)"),
        "met_elsewhere": _l("Met elsewhere"),
        "phone_call": _l("Phone call"),
        "nobody_home": _l("Nobody home"),
        "declined": _l("Declined"),
        "no_answer": _l("No answer"),
        "moved_out": _l("Moved out"),
        "vacant": _l("Vacant"),
    },
    "location_flag": {
        "ok": _l("On site"),
        "off_site": _l("Off-site"),
        "imprecise": _l("Imprecise"),
        "no_location": _l("No location"),
    },
    "request_status": {
        "open": _l("Open"),
        "in_progress": _l("In progress"),
        "resolved": _l("Resolved"),
        "closed": _l("Closed"),
    },
    "category": {
        "employment": _l("Employment"),
        "medical": _l("Medical care"),
        "elderly_care": _l("Elderly care"),
        "housing": _l("Housing"),
        "sanitation": _l("Environment and sanitation"),
        "public_security": _l("Public security"),
        "dispute": _l("Disputes"),
        "policy": _l("Policy questions"),
        "other": _l("Other"),
    },
    "tag": {
        "elderly_alone": _l("Elderly living alone"),
        "low_income": _l("Subsistence allowance"),
        "disabled": _l("Disabled"),
        "veteran": _l("Veteran"),
        "left_behind_child": _l("Left-behind child"),
        "party_member": _l("Party member"),
    },
    # The register: kinds of change, the fields they change, a resident's end, occupancy, retirement, relation.
    "register_kind": {
        "resident_added": _l("Resident added"),
        "resident_corrected": _l("Resident corrected"),
        "tag_added": _l("Tag added"),
        "tag_ended": _l("Tag ended"),
        "resident_left": _l("Resident left"),
        "household_vacant": _l("Marked vacant"),
        "household_occupied": _l("Occupied again"),
        "household_added": _l("Household added"),
        "household_retired": _l("Household retired"),
    },
    "register_field": {
        "name": _l("Name"),
        "phone": _l("Phone"),
        "birth_year": _l("Year of birth"),
        "relation": _l("Relation"),
        "gender": _l("Gender"),
        "tag": _l("Tag"),
        "status": _l("Status"),
        "occupancy": _l("Occupancy"),
        "retired": _l("Retired"),
    },
    "resident_status": {"moved_out": _l("Moved out"), "deceased": _l("Deceased")},
    "occupancy": {"occupied": _l("Occupied"), "vacant": _l("Vacant"), "moved_out": _l("Moved out")},
    "retire_reason": {"demolished": _l("Demolished"), "merged": _l("Merged with another household"),
                      "other": _l("Other")},
    "relation": {
        "head": _l("Head of household"),
        "spouse": _l("Spouse"),
        "child": _l("Child"),
        "parent": _l("Parent"),
        "grandchild": _l("Grandchild"),
        "sibling": _l("Sibling"),
        "other": _l("Other relative or lodger"),
    },
    "referral": {
        "affairs_center": _l("Community Affairs Service Center"),
        "culture_center": _l("Community Cultural Activity Center"),
        "party_center": _l("Party Member Service Center"),
        "health_center": _l("Community Health Service Center"),
        "trade_union": _l("Trade union"),
        "youth_league": _l("Communist Youth League"),
        "womens_federation": _l("Women's Federation"),
    },
    "referral_state": {"referred": _l("Referred, not yet accepted"),
                       "accepted": lazy_pgettext("referral state", "Accepted"),
                       "info_requested": _l("Information requested"), "handed_back": _l("Handed back"),
                       "done": _l("Done by the platform"), "withdrawn": _l("Withdrawn")},
    "referral_late": {"accept": _l("not accepted in time"), "answer": _l("not answered in time")},
}
