"""Pure domain rules: time, visit cycles, household status, location checks. No database, no Flask."""
import math
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Most urgent first: the order of lists, of map colours and of the legend.
STATUSES = ("overdue_request", "open_request", "due", "visited", "vacant")
URGENCY = {status: rank for rank, status in enumerate(STATUSES)}

OUTCOMES = ("met", "nobody_home", "declined", "moved_out", "vacant")
REQUEST_STATUSES = ("open", "in_progress", "resolved", "closed")
OPEN_REQUEST_STATUSES = ("open", "in_progress")
LOCATION_FLAGS = ("ok", "off_site", "imprecise", "no_location")


def utcnow():
    """The current time, timezone-aware UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(moment):
    """A UTC timestamp as stored: 2026-11-28T07:09:26Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    """Parse a stored or client timestamp (Z or an offset) into an aware datetime; naive means UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def local_date(moment, tz=SHANGHAI):
    """The calendar day of an aware datetime (or stored timestamp) in the community's time zone."""
    if isinstance(moment, str):
        moment = parse_iso(moment)
    return moment.astimezone(tz).date()


def today(tz=SHANGHAI, now=None):
    """Today's date where the community lives (Asia/Shanghai unless configured)."""
    return local_date(now or utcnow(), tz)


def cycle_days(tag_cycles, default_days):
    """A household's visit cycle: the shortest of its tags' cycles, else the default."""
    return min([days for days in tag_cycles if days] + [default_days])


def next_visit_due(last_visit_day, days):
    """The first day on which a household visited on last_visit_day is due again (None: due now)."""
    if last_visit_day is None:
        return None
    return last_visit_day + timedelta(days=days)


def is_due(last_visit_day, days, on_day):
    """Whether a household must be visited on on_day: never visited, or its cycle has run out."""
    due = next_visit_due(last_visit_day, days)
    return due is None or on_day >= due


def household_status(*, occupancy, overdue_requests, open_requests, last_visit_day, days, on_day):
    """The one status a household shows: overdue request > open request > vacant > due > visited."""
    if overdue_requests:
        return "overdue_request"
    if open_requests:
        return "open_request"
    if occupancy != "occupied":
        return "vacant"
    if is_due(last_visit_day, days, on_day):
        return "due"
    return "visited"


def request_due_date(raised_day, due_days):
    """The due date of a request raised on raised_day in a category with due_days to answer."""
    return raised_day + timedelta(days=due_days)


def is_overdue(status, due_day, on_day):
    """Whether a request is still open past its due date."""
    return status in OPEN_REQUEST_STATUSES and due_day < on_day


EARTH_RADIUS_M = 6_371_008.8


def distance_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres between two WGS-84 points (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def location_flag(distance, accuracy, *, max_distance=150, max_accuracy=100):
    """Flag a visit's position: no_location, imprecise (accuracy too poor), off_site, or ok."""
    if distance is None or accuracy is None:
        return "no_location"
    if accuracy > max_accuracy:
        return "imprecise"
    if distance > max_distance:
        return "off_site"
    return "ok"


def mask_phone(phone):
    """Mask a phone number for lists: 13812341234 -> 138****1234."""
    if not phone:
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


# The ledger's lifecycle: action -> {from status: to status}. Anything else is refused.
TRANSITIONS = {
    "progress": {"open": "in_progress", "in_progress": "in_progress"},
    "resolve": {"open": "resolved", "in_progress": "resolved"},
    "confirm": {"resolved": "closed"},  # return visit: the resident is satisfied
    "reopen": {"resolved": "open"},  # return visit: not satisfied
}


class IllegalTransition(ValueError):
    """A ledger action that the request's current status does not allow."""


def transition(status, action):
    """The status a request moves to when action is taken on it in status."""
    try:
        return TRANSITIONS[action][status]
    except KeyError:
        raise IllegalTransition(f"{action} is not allowed on a request that is {status}") from None


# A visit's outcome says what the door showed; the household's occupancy follows it.
OCCUPANCY_AFTER = {"met": "occupied", "nobody_home": None, "declined": "occupied",
                   "moved_out": "moved_out", "vacant": "vacant"}
