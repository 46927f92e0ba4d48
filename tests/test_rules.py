"""The pure rules: cycles, statuses, contact and attempt, distances, location flags, phone masks, ledger
transitions."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from fieldapp import rules


def test_cycle_is_the_shortest_of_the_tags_else_the_default():
    assert rules.cycle_days([], 30) == 30
    assert rules.cycle_days([None, 14], 30) == 14
    assert rules.cycle_days([14, 7], 30) == 7
    assert rules.cycle_days([60], 30) == 30  # a tag never lengthens the default


@pytest.mark.parametrize("last, days, on, due", [
    (date(2026, 1, 31), 30, date(2026, 3, 1), False),   # due on 2 March
    (date(2026, 1, 31), 30, date(2026, 3, 2), True),
    (date(2024, 2, 22), 7, date(2024, 2, 29), True),    # leap day
    (date(2024, 2, 22), 7, date(2024, 2, 28), False),
    (date(2026, 12, 28), 7, date(2027, 1, 4), True),    # year end
    (None, 30, date(2026, 1, 1), True),                 # never visited
])
def test_due_across_month_ends(last, days, on, due):
    assert rules.is_due(last, days, on) is due


def test_local_date_is_shanghai_not_utc():
    # 17:30 UTC on 31 January is 01:30 on 1 February in Shanghai.
    assert rules.local_date("2026-01-31T17:30:00Z") == date(2026, 2, 1)
    assert rules.today(now=datetime(2026, 1, 31, 16, 0, tzinfo=timezone.utc)) == date(2026, 2, 1)


@pytest.mark.parametrize("kw, status", [
    (dict(overdue_requests=1, open_requests=1, occupancy="occupied", last_contact_day=date(2026, 11, 27)),
     "overdue_request"),
    (dict(overdue_requests=0, open_requests=2, occupancy="vacant", last_contact_day=None), "open_request"),
    (dict(overdue_requests=0, open_requests=0, occupancy="vacant", last_contact_day=None), "vacant"),
    (dict(overdue_requests=0, open_requests=0, occupancy="occupied", last_contact_day=None), "due"),
    (dict(overdue_requests=0, open_requests=0, occupancy="occupied", last_contact_day=date(2026, 10, 1)), "due"),
    (dict(overdue_requests=0, open_requests=0, occupancy="occupied", last_contact_day=date(2026, 11, 20)), "visited"),
])
def test_household_status_order(kw, status):
    assert rules.household_status(days=30, on_day=date(2026, 11, 28), **kw) == status


# ---- Contact and attempt ----

@pytest.mark.parametrize("outcome, contact", [
    ("met", True), ("met_elsewhere", True), ("phone_call", True), ("nobody_home", False), ("declined", False),
    ("no_answer", False), ("moved_out", False), ("vacant", False)])
def test_only_a_contact_counts_for_the_cycle(outcome, contact):
    assert set(rules.CONTACT_OUTCOMES) | set(rules.ATTEMPT_OUTCOMES) | {"moved_out", "vacant"} == set(rules.OUTCOMES)
    for days in (7, 30):
        assert rules.counts_as_contact(outcome, days) is contact


@pytest.mark.parametrize("days, phone_calls_weekly, counts", [
    (7, True, True), (7, False, False), (3, False, False), (8, False, True), (30, False, True), (30, True, True)])
def test_a_phone_call_may_be_set_not_to_count_for_a_weekly_cycle(days, phone_calls_weekly, counts):
    assert rules.counts_as_contact("phone_call", days, phone_calls_weekly) is counts
    assert rules.counts_as_contact("met_elsewhere", days, phone_calls_weekly) is True  # in person: always
    called, met = date(2026, 11, 27), date(2026, 11, 20)
    assert rules.counting_contact(called, met, days, phone_calls_weekly) == (called if counts else met)


def test_after_an_attempt_the_household_stays_due_and_is_attempted():
    today = date(2026, 11, 28)
    tried = dict(occupancy="occupied", overdue_requests=0, open_requests=0, days=30, on_day=today)
    assert rules.household_status(last_contact_day=date(2026, 10, 1), **tried) == "due"  # tried 11-27: still due
    assert rules.attempted(date(2026, 10, 1), date(2026, 11, 27), 30, today) is True
    assert rules.attempted(None, date(2026, 10, 30), 30, today) is True  # 30 Oct begins the cycle
    assert rules.attempted(None, date(2026, 10, 29), 30, today) is False  # tried in the cycle before
    assert rules.attempted(date(2026, 11, 27), date(2026, 11, 26), 30, today) is False  # reached after the try
    assert rules.attempted(None, None, 30, today) is False


@pytest.mark.parametrize("attempt_days, attempts, unreachable", [
    ([date(2026, 11, 3), date(2026, 11, 10), date(2026, 11, 17)], 3, True),
    ([date(2026, 11, 3), date(2026, 11, 10)], 3, False),
    ([date(2026, 10, 29), date(2026, 11, 10), date(2026, 11, 17)], 3, False),  # one before the cycle began
    ([date(2026, 11, 10)], 1, True),
])
def test_enough_attempts_in_one_cycle_make_a_due_household_unreachable(attempt_days, attempts, unreachable):
    today = date(2026, 11, 28)
    assert rules.is_unreachable(None, attempt_days, 30, today, attempts) is unreachable
    assert rules.is_unreachable(date(2026, 11, 20), attempt_days, 30, today, attempts) is False  # reached since


def test_a_weekly_cycle_counts_its_attempts_in_seven_days():
    today = date(2026, 11, 28)
    days = [date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 25), date(2026, 11, 28)]
    assert rules.attempts_in_cycle(days, 7, today) == 3
    assert rules.is_unreachable(date(2026, 11, 1), days, 7, today) is True


@pytest.mark.parametrize("outcomes, days, phone_calls_weekly, standing", [
    (["met"], 30, True, "contacted"),
    (["nobody_home", "declined"], 30, True, "attempted"),
    ([], 30, True, None),
    (["met", "met", "nobody_home"], 7, True, "attempted"),  # a weekly cycle asks for 4 contacts in 30 days
    (["met", "phone_call", "met_elsewhere", "phone_call"], 7, True, "contacted"),
    (["met", "phone_call", "met_elsewhere", "phone_call"], 7, False, None),
    (["phone_call"], 30, False, "contacted"),
    (["moved_out"], 30, True, None),
])
def test_a_past_period_counts_contacts_against_the_cycle_and_notes_attempts(outcomes, days, phone_calls_weekly,
                                                                             standing):
    assert rules.period_standing(outcomes, 30, days, phone_calls_weekly) == standing


def test_distance_of_known_points():
    # One degree of latitude is about 111.2 km everywhere.
    assert rules.distance_m(120.1, 30.0, 120.1, 31.0) == pytest.approx(111_195, rel=1e-3)
    assert rules.distance_m(120.1, 30.28, 120.1, 30.28) == 0


@pytest.mark.parametrize("distance, accuracy, flag", [
    (20, 12, "ok"), (151, 12, "off_site"), (20, 101, "imprecise"), (None, None, "no_location"), (150, 100, "ok"),
])
def test_location_flags(distance, accuracy, flag):
    assert rules.location_flag(distance, accuracy) == flag


def test_phone_mask():
    assert rules.mask_phone("13812341234") == "138****1234"
    assert rules.mask_phone("") == ""
    assert rules.mask_phone("12345") == "*****"
    assert rules.mask_phone("+86 138-1234-1234") == "861******1234"


@pytest.mark.parametrize("status, action, to", [
    ("open", "progress", "in_progress"), ("in_progress", "progress", "in_progress"),
    ("open", "resolve", "resolved"), ("in_progress", "resolve", "resolved"),
    ("resolved", "confirm", "closed"), ("resolved", "reopen", "open"),
])
def test_legal_transitions(status, action, to):
    assert rules.transition(status, action) == to


@pytest.mark.parametrize("status, action", [
    ("closed", "progress"), ("closed", "resolve"), ("resolved", "resolve"), ("open", "confirm"),
    ("in_progress", "reopen"), ("open", "delete"),
])
def test_illegal_transitions_are_refused(status, action):
    with pytest.raises(rules.IllegalTransition):
        rules.transition(status, action)


@pytest.mark.parametrize("zone, day, start", [
    ("Asia/Shanghai", date(2026, 2, 1), "2026-01-31T16:00:00Z"),
    ("Europe/Berlin", date(2026, 1, 15), "2026-01-14T23:00:00Z"),  # winter time
    ("Europe/Berlin", date(2026, 7, 15), "2026-07-14T22:00:00Z"),  # summer time
    ("Europe/Berlin", date(2026, 10, 26), "2026-10-25T23:00:00Z"),  # after a day of 25 hours
    ("America/Havana", date(2026, 3, 8), "2026-03-08T05:00:00Z"),  # midnight skipped: the day begins at 01:00
    ("America/Havana", date(2026, 11, 1), "2026-11-01T04:00:00Z"),  # 00:00-01:00 twice: the first one
])
def test_local_midnight_in_any_zone(zone, day, start):
    assert rules.local_midnight_utc(day, ZoneInfo(zone)) == start


def test_a_clock_stands_for_its_named_zone_else_its_offset():
    summer = date(2026, 7, 15)
    assert rules.local_midnight_utc(summer, rules.clock_zone({"offset": "+480 minutes"})) == "2026-07-14T16:00:00Z"
    assert rules.local_midnight_utc(summer, rules.clock_zone({"offset": "-300 minutes"})) == "2026-07-15T05:00:00Z"
    winter_clock = {"offset": "+60 minutes", "timezone": "Europe/Berlin"}  # its offset is today's, not July's
    assert rules.local_midnight_utc(summer, rules.clock_zone(winter_clock)) == "2026-07-14T22:00:00Z"


def test_only_the_author_amends_and_only_within_the_window():
    visit = {"user_id": 7, "received_at": "2026-03-01T08:00:00Z"}
    assert rules.may_amend(visit, 7, rules.parse_iso("2026-03-02T07:59:59Z"), 24)
    assert not rules.may_amend(visit, 7, rules.parse_iso("2026-03-02T08:00:00Z"), 24)
    assert not rules.may_amend(visit, 8, rules.parse_iso("2026-03-01T09:00:00Z"), 24)


def _household(id, status, last=None, building=None, unit=None, room=None, **kw):
    """A row of the member's list, with what the visiting order reads."""
    return {"id": id, "status": status, "last_visit_at": last, "building_id": building,
            "building_name": f"{building}号楼" if building else None, "unit": unit, "room": room, **kw}


def test_urgency_order_most_urgent_first_then_the_longest_unvisited():
    rows = [_household(1, "visited", "2026-03-01T02:00:00Z"), _household(2, "vacant"),
            _household(3, "due", "2026-01-05T02:00:00Z"), _household(4, "due"),
            _household(5, "due", "2026-01-20T02:00:00Z"), _household(6, "open_request", "2026-02-01T02:00:00Z"),
            _household(7, "overdue_request", "2026-02-20T02:00:00Z"),
            # A resolved request waits for its return visit: the household is due again.
            _household(8, "visited", "2026-02-25T02:00:00Z", return_visits=1)]
    assert [h["id"] for h in sorted(rows, key=rules.urgency_key)] == [7, 6, 4, 3, 5, 8, 1, 2]


def test_rooms_sort_as_numbers_where_they_are_numbers():
    assert sorted(["1201", "501", "B2", None, "88"], key=rules.room_number) == ["88", "501", "1201", None, "B2"]


def test_households_are_grouped_by_building_in_visiting_order():
    rows = [_household(1, "visited", "2026-03-01T02:00:00Z", building=3, unit="1", room="1201", distance_m=200),
            _household(2, "due", "2026-01-01T02:00:00Z", building=3, unit="2", room="101", distance_m=50),
            _household(3, "visited", "2026-03-01T02:00:00Z", building=3, unit="1", room="501", distance_m=None),
            _household(4, "visited", "2026-02-01T02:00:00Z", distance_m=120),  # a village house of its own
            _household(5, "open_request", "2026-02-01T02:00:00Z", building=5, distance_m=None)]
    urgent = rules.group_by_building(rows, "urgency")
    assert [g["building"] for g in urgent] == ["5号楼", "3号楼", None]
    # Inside a building: the most urgent first, then by unit and room (501 before 1201).
    assert [h["id"] for h in urgent[1]["households"]] == [2, 3, 1]
    near = rules.group_by_building(rows, "nearest")
    assert [(g["building"], g["distance"]) for g in near] == [("3号楼", 50), (None, 120), ("5号楼", None)]
