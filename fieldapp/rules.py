"""Pure domain rules: time, visit cycles, household status, location checks, the visiting order, the amend
window. No database, no Flask."""
import math
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Most urgent first: the order of lists, of map colours and of the legend.
STATUSES = ("overdue_request", "open_request", "due", "visited", "vacant")
URGENCY = {status: rank for rank, status in enumerate(STATUSES)}

# What a visit found. A contact reached the resident (it counts for the cycle); an attempt did not (it shows,
# and enough of them in one cycle make a household unreachable); moved out and vacant say the door was empty.
OUTCOMES = ("met", "met_elsewhere", "phone_call", "nobody_home", "declined", "no_answer", "moved_out", "vacant")
CONTACT_OUTCOMES = ("met", "met_elsewhere", "phone_call")
IN_PERSON_OUTCOMES = ("met", "met_elsewhere")  # a phone call may be set not to count for a weekly cycle
ATTEMPT_OUTCOMES = ("nobody_home", "declined", "no_answer")
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


def next_visit_due(last_contact_day, days):
    """The first day on which a household last reached on last_contact_day is due again (None: due now)."""
    if last_contact_day is None:
        return None
    return last_contact_day + timedelta(days=days)


def is_due(last_contact_day, days, on_day):
    """Whether a household must be visited on on_day: never reached, or its cycle has run out since the last
    contact that counts (counting_contact); attempts never make it visited."""
    due = next_visit_due(last_contact_day, days)
    return due is None or on_day >= due


def household_status(*, occupancy, overdue_requests, open_requests, last_contact_day, days, on_day):
    """The one status a household shows: the first of STATUS_PRECEDENCE that holds (the status SQL is built from
    the same order): overdue request > open request > vacant > due > visited."""
    holds = {"overdue_request": bool(overdue_requests), "open_request": bool(open_requests),
             "vacant": occupancy != "occupied", "due": is_due(last_contact_day, days, on_day), "visited": True}
    return next(status for status in STATUS_PRECEDENCE if holds[status])


# Contact and attempt. A cycle this short or shorter is weekly: the setting "phone calls count for households
# visited weekly" may say a phone call does not make such a household visited (someone must see them).
WEEKLY_CYCLE_DAYS = 7
DEFAULT_PHONE_CALLS_WEEKLY = True
DEFAULT_UNREACHABLE_ATTEMPTS = 3  # attempts in one cycle that make a household unreachable for the leader
MAX_UNREACHABLE_ATTEMPTS = 20


def phone_calls_count(days, phone_calls_weekly=DEFAULT_PHONE_CALLS_WEEKLY):
    """Whether a phone call is a contact for a household with a cycle of days: always, except for a weekly cycle
    when the setting says phone calls do not count for those."""
    return bool(phone_calls_weekly) or days > WEEKLY_CYCLE_DAYS


def counts_as_contact(outcome, days, phone_calls_weekly=DEFAULT_PHONE_CALLS_WEEKLY):
    """Whether a visit of outcome makes a household with a cycle of days visited in that cycle."""
    if outcome == "phone_call":
        return phone_calls_count(days, phone_calls_weekly)
    return outcome in CONTACT_OUTCOMES


def counting_contact(last_contact, last_met, days, phone_calls_weekly=DEFAULT_PHONE_CALLS_WEEKLY):
    """The last contact that counts for a household's cycle, from its last contact of any kind and its last
    contact in person (days, datetimes or stored text alike): the first, unless phone calls do not count."""
    return last_contact if phone_calls_count(days, phone_calls_weekly) else last_met


def in_cycle(day, days, on_day):
    """Whether day (None: never) lies in the rolling cycle of days ending on on_day."""
    return day is not None and day >= cycle_start(on_day, days)


def attempted(last_contact_day, last_attempt_day, days, on_day):
    """Whether a household was tried but not reached in its current cycle: still due, an attempt since the
    cycle began."""
    return is_due(last_contact_day, days, on_day) and in_cycle(last_attempt_day, days, on_day)


def attempts_in_cycle(attempt_days, days, on_day):
    """How many of attempt_days (the days of a household's attempts) lie in its current cycle."""
    return sum(1 for day in attempt_days if in_cycle(day, days, on_day))


def is_unreachable(last_contact_day, attempt_days, days, on_day, attempts=DEFAULT_UNREACHABLE_ATTEMPTS):
    """Whether the leader is to see a household as unreachable: still due, and tried at least attempts times
    since its cycle began."""
    return is_due(last_contact_day, days, on_day) and attempts_in_cycle(attempt_days, days, on_day) >= attempts


def period_standing(outcomes, days_in_period, days, phone_calls_weekly=DEFAULT_PHONE_CALLS_WEEKLY):
    """How a household with a cycle of days stood in a past period of days_in_period days, from the outcomes of
    its visits in it as they stand (rejected ones left out): "contacted" (as many contacts as the cycle asks
    for), "attempted" (fewer, but tried), or None."""
    contacts = sum(1 for outcome in outcomes if counts_as_contact(outcome, days, phone_calls_weekly))
    if contacts >= required_visits(days_in_period, days):
        return "contacted"
    return "attempted" if any(outcome in ATTEMPT_OUTCOMES for outcome in outcomes) else None


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
    # Who answers and by when, and where it was sent: the status stays as it is.
    "assign": {"open": "open", "in_progress": "in_progress", "resolved": "resolved"},
    "refer": {"open": "open", "in_progress": "in_progress"},
}
# The ledger page's order of actions; confirm and reopen are the two answers of one return visit.
LEDGER_ACTIONS = ("progress", "resolve", "assign", "refer", "confirm", "reopen")


class IllegalTransition(ValueError):
    """A ledger action that the request's current status does not allow."""


def transition(status, action):
    """The status a request moves to when action is taken on it in status."""
    try:
        return TRANSITIONS[action][status]
    except KeyError:
        raise IllegalTransition(f"{action} is not allowed on a request that is {status}") from None


# A visit's outcome says what the door showed; the household's occupancy follows it.
OCCUPANCY_AFTER = {"met": "occupied", "met_elsewhere": None, "phone_call": None, "nobody_home": None,
                   "declined": "occupied", "no_answer": None, "moved_out": "moved_out", "vacant": "vacant"}


def allowed_actions(status):
    """The ledger actions a request in status allows, in the ledger page's order."""
    return [action for action in LEDGER_ACTIONS if status in TRANSITIONS[action]]


def days_late(due_day, on_day):
    """How many days past due_day a request still open on on_day is (0 when not late)."""
    return max(0, (on_day - due_day).days)


# Visit cycles as periods. A household's current cycle is a rolling window ending today; a past
# period is a span of calendar days (a month, or from-to) in which its cycle sets how many visits it needs.

def cycle_start(on_day, days):
    """The first day of the rolling cycle of days ending on on_day: a visit since then counts."""
    return on_day - timedelta(days=days - 1)


def visited_in_cycle(last_contact_day, days, on_day):
    """Whether a household last reached on last_contact_day is covered on on_day (the opposite of due)."""
    return in_cycle(last_contact_day, days, on_day)


def due_since(last_contact_day, created_day, days):
    """The day from which a household is due: a cycle after its last contact, or since it was added."""
    return created_day if last_contact_day is None else last_contact_day + timedelta(days=days)


def long_overdue(last_contact_day, created_day, days, on_day):
    """Whether a household has been due for longer than one full cycle on on_day."""
    return (on_day - due_since(last_contact_day, created_day, days)).days >= days


def add_months(day, months):
    """The same day months later (or earlier), kept within shorter months: 31 Jan + 1 month = 28/29 Feb."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    first_of_next = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return date(year, month + 1, min(day.day, (first_of_next - timedelta(days=1)).day))


def month_period(year, month):
    """The first and the last day of a calendar month (leap years included)."""
    first = date(year, month, 1)
    return first, add_months(first, 1) - timedelta(days=1)


def period_days(start, end):
    """How many calendar days a period holds, both ends included."""
    return (end - start).days + 1


def required_visits(days_in_period, days):
    """Visits a household with a cycle of days needs in a past period: one per full cycle, at least one."""
    return max(1, days_in_period // days)


EARLIEST_DAY = date(2000, 1, 1)  # no community's records are older: an earlier date is a typing error
MAX_PERIOD_DAYS = 366  # a review covers at most a year: a period over all history would read every visit


class BadPeriod(ValueError):
    """A period that cannot be reviewed: one end missing, reversed, too long, too early or not yet begun."""


def parse_period(spec, on_day, start=None, end=None):
    """The period to review: "current" (rolling cycles), "YYYY-MM" (a month), or start..end (dates).

    Returns {"kind": "current"|"month"|"range", "start": date|None, "end": date|None, "key": str}.
    A month or range that reaches past on_day ends on on_day (nothing after today is known).
    BadPeriod's code says what is wrong: dates, order, future, early, long (ranges) or month.
    """
    if start or end:
        if not (start and end):
            raise BadPeriod("dates")
        if start > end:
            raise BadPeriod("order")
        if start > on_day:
            raise BadPeriod("future")
        if start < EARLIEST_DAY:
            raise BadPeriod("early")
        if period_days(start, min(end, on_day)) > MAX_PERIOD_DAYS:
            raise BadPeriod("long")
        return {"kind": "range", "start": start, "end": min(end, on_day), "key": f"{start}..{end}"}
    if not spec or spec == "current":
        return {"kind": "current", "start": None, "end": None, "key": "current"}
    if spec == "last-month":
        spec = add_months(on_day, -1).strftime("%Y-%m")
    try:
        year, month = (int(part) for part in spec.split("-"))
        first, last = month_period(year, month)
    except (ValueError, OverflowError):  # date() of a year past C's long overflows
        raise BadPeriod("month") from None
    if first > on_day or first < EARLIEST_DAY:
        raise BadPeriod("month")
    return {"kind": "month", "start": first, "end": min(last, on_day), "key": f"{year:04d}-{month:02d}"}


def recent_months(on_day, count=12):
    """The keys (YYYY-MM) of the current month and the count - 1 before it, newest first."""
    return [add_months(on_day.replace(day=1), -n).strftime("%Y-%m") for n in range(count)]


def local_midnight_utc(day, tz=SHANGHAI):
    """The stored UTC timestamp at which day begins in the time zone tz (a ZoneInfo, or a clock's fixed offset).

    A ZoneInfo knows each day's own offset (summer or winter time); where a zone skips midnight, the day begins
    at the end of the gap, which is what the earlier offset (fold 0) gives."""
    return iso(datetime.combine(day, time(0), tz))


def clock_zone(clock):
    """The time zone of a clock (today, offset, ...): the zone it names, else its fixed offset ('+480 minutes')."""
    if clock.get("timezone"):
        return ZoneInfo(clock["timezone"])
    return timezone(timedelta(minutes=int(clock["offset"].split()[0])))


def may_amend(visit, user_id, now, hours):
    """Whether user_id may still amend visit: their own, received less than hours ago."""
    return visit["user_id"] == user_id and now - parse_iso(visit["received_at"]) < timedelta(hours=hours)


# The member's list in visiting order: most urgent first, households of one building together.

def urgency_key(household):
    """Sort key: most urgent status first; among due households, the longest unvisited first."""
    never = household["last_visit_at"] is None
    # A resolved request puts the household back on the list: its return visit is due.
    status = "due" if household["status"] == "visited" and household.get("return_visits") else household["status"]
    return (URGENCY[status], not never, household["last_visit_at"] or "")


def room_number(room):
    """Sort key of a room: rooms sort as numbers where they are numbers (501 before 1201)."""
    return (0, int(room), "") if room and room.isdigit() else (1, 0, room or "")


def group_by_building(rows, order):
    """Group rows into buildings (units and rooms inside) or single village houses, in visiting order.

    order is "nearest" (rows carry distance_m, None when unknown) or anything else for most urgent first."""
    groups = {}
    for household in rows:
        key = ("b", household["building_id"]) if household["building_id"] else ("h", household["id"])
        groups.setdefault(key, []).append(household)
    result = []
    for (kind, _id), members in groups.items():
        members.sort(key=lambda h: (urgency_key(h), h["unit"] or "", room_number(h["room"])))
        first = members[0]
        distances = [m["distance_m"] for m in members if m.get("distance_m") is not None]
        distance = min(distances) if distances else None
        rank = (distance if distance is not None else float("inf")) if order == "nearest" else urgency_key(first)
        result.append({"building": first["building_name"] if kind == "b" else None, "distance": distance,
                       "building_id": first["building_id"], "households": members, "rank": rank})
    result.sort(key=lambda g: (g["rank"], g["building"] or ""))
    return result


# The order in which household_status decides: the first that holds wins, the last is what is left.
STATUS_PRECEDENCE = ("overdue_request", "open_request", "vacant", "due", "visited")
