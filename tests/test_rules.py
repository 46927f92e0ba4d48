"""The pure rules: cycles, statuses, distances, location flags, phone masks, ledger transitions."""
from datetime import date, datetime, timezone

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
    (dict(overdue_requests=1, open_requests=1, occupancy="occupied", last_visit_day=date(2026, 11, 27)), "overdue_request"),
    (dict(overdue_requests=0, open_requests=2, occupancy="vacant", last_visit_day=None), "open_request"),
    (dict(overdue_requests=0, open_requests=0, occupancy="vacant", last_visit_day=None), "vacant"),
    (dict(overdue_requests=0, open_requests=0, occupancy="occupied", last_visit_day=None), "due"),
    (dict(overdue_requests=0, open_requests=0, occupancy="occupied", last_visit_day=date(2026, 10, 1)), "due"),
    (dict(overdue_requests=0, open_requests=0, occupancy="occupied", last_visit_day=date(2026, 11, 20)), "visited"),
])
def test_household_status_order(kw, status):
    assert rules.household_status(days=30, on_day=date(2026, 11, 28), **kw) == status


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
