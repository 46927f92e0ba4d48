"""Numbers and dates from URLs, query strings and forms, read within bounds the app can work with.

SQLite's INTEGER holds 64 bits: binding a larger number raises OverflowError. int("²") raises although
"²".isdigit() is true. A day near the year 1 or 9999 overflows once it is shifted to UTC or by a day.
Views read such values here, never with int() or date.fromisoformat() of their own.
"""
from datetime import date, timedelta

from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

from fieldapp.rules import EARLIEST_DAY

MAX_INTEGER = 2**63 - 1  # SQLite's largest INTEGER
DAYS_AHEAD = 366  # the latest day read is a year after today: due dates, a period's or a filter's end


class BadValue(ValueError):
    """A value that cannot be read: its message names the field and says what is expected."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.message = message
        self.reason = reason  # "format" or "range"


class RecordId(IntegerConverter):
    """The <int:...> URL converter: a number larger than SQLite's INTEGER matches no record (404)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_INTEGER)
        super().__init__(url_map, *args, **kwargs)


def whole_number(raw, low=0, high=MAX_INTEGER):
    """The whole number written in raw (spaces around it allowed) if it lies from low to high, else None."""
    text = (raw or "").strip()
    # isdecimal, not isdigit: "²" is a digit that int() refuses; full-width "１２" from a Chinese keyboard is 12.
    if not text.isdecimal() or len(text.lstrip("0")) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


def record_id(raw):
    """A record's id from request text, or None: not a number, or larger than any SQLite can hold."""
    return whole_number(raw, low=1)


def latest_day(today):
    """The latest day a date typed in a form or URL may name."""
    return today + timedelta(days=DAYS_AHEAD)


def day(raw, field, today):
    """The date in raw (YYYY-MM-DD) from EARLIEST_DAY to a year after today, or None when raw is empty.

    Anything else raises BadValue with a message that names field (the form's label).
    """
    text = (raw or "").strip()
    if not text:
        return None
    try:
        found = date.fromisoformat(text)
    except ValueError:
        raise BadValue(_("%(field)s: give a date as YYYY-MM-DD, e.g. %(example)s.", field=field,
                         example=today.isoformat()), "format") from None
    if not EARLIEST_DAY <= found <= latest_day(today):
        raise BadValue(_("%(field)s: give a date from %(first)s to %(last)s.", field=field,
                         first=EARLIEST_DAY.isoformat(), last=latest_day(today).isoformat()), "range")
    return found


def span(first, last, field):
    """Check that a range from first to last (either may be None) runs forwards; field names its end."""
    if first and last and last < first:
        raise BadValue(_("%(field)s: not before %(first)s.", field=field, first=first.isoformat()), "range")


def page_number(raw, last_page):
    """The page to show for raw (1 when empty) among 1..last_page, and a notice when raw is not one of them."""
    text = (raw or "").strip()
    if not text:
        return 1, None
    if not text.isdecimal() or not text.strip("0"):
        return 1, _("Page: %(page)s is not a page number; showing the first page.", page=text[:20])
    number = whole_number(text, low=1, high=last_page)
    if number is None:  # past the last page, however far
        return last_page, _("Page: the last page is %(n)d; showing it.", n=last_page)
    return number, None
