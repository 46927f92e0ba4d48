"""The status and cycle SQL of data/status.py, evaluated by SQLite against the pure rules they are built from."""
from datetime import date, datetime, timedelta, timezone
from itertools import product

import pytest

from fieldapp import rules
from fieldapp.data import status

TODAY = date(2026, 3, 1)
CLOCK = {"today": TODAY.isoformat(), "offset": "+480 minutes", "default_cycle": 30}


def test_the_status_case_decides_as_household_status_and_ranks_as_urgency(db):
    sql = {ranked: status.status(overdue=":overdue", open_requests=":open", occupancy=":occupancy", due=":due = 1",
                                 ranked=ranked) for ranked in (False, True)}
    for overdue, open_requests, occupancy, due in product((0, 1), (0, 2), ("occupied", "vacant", "moved_out"),
                                                          (0, 1)):
        expected = rules.household_status(occupancy=occupancy, overdue_requests=overdue, open_requests=open_requests,
                                          last_contact_day=None if due else TODAY, days=30, on_day=TODAY)
        params = {"overdue": overdue, "open": open_requests, "occupancy": occupancy, "due": due}
        found = db.execute(f"SELECT {sql[False]}, {sql[True]}", params).fetchone()
        assert found == (expected, rules.URGENCY[expected]), params


def _moments(days):
    """Last visits around the local midnight that begins a cycle of days ending TODAY (16:00 UTC the day before)."""
    began = datetime.combine(rules.cycle_start(TODAY, days), datetime.min.time(), rules.SHANGHAI)
    return [began + timedelta(seconds=shift) for shift in (-86_400, -1, 0, 1, 86_399)]


@pytest.mark.parametrize("days", [7, 14, 30])
def test_needing_a_visit_is_is_due_on_the_local_day_of_the_last_contact(db, days):
    params = dict(CLOCK)
    sql = status.needs_visit(status.cycle_began(db, CLOCK, params, ":days"), ":last")
    for moment in [None, *_moments(days)]:
        last = None if moment is None else rules.iso(moment.astimezone(timezone.utc))
        expected = rules.is_due(None if last is None else rules.local_date(last), days, TODAY)
        assert db.execute(f"SELECT {sql}", {**params, "days": days, "last": last}).fetchone()[0] == expected, last


def _stamp(moment):
    return None if moment is None else rules.iso(moment.astimezone(timezone.utc))


@pytest.mark.parametrize("days", [7, 30])
@pytest.mark.parametrize("phone_calls_weekly", [True, False])
def test_the_last_contact_that_counts_and_attempted_are_the_rules(db, days, phone_calls_weekly):
    clock = {**CLOCK, "phone_calls_weekly": phone_calls_weekly}
    params = status.contact_params(clock, dict(clock))
    began = status.cycle_began(db, clock, params, ":days")
    contact = status.last_contact(":days", ":contact", ":met")
    needs = status.needs_visit(began, contact)
    sql = f"SELECT {contact}, {needs}, {status.attempted(began, needs, ':attempt')}"
    moments = [None, *_moments(days)]
    for called, met, attempt in product(moments[::2], moments[::2], moments):
        contact_at, met_at, attempt_at = _stamp(called), _stamp(met), _stamp(attempt)
        counted = rules.counting_contact(contact_at, met_at, days, phone_calls_weekly)
        counted_day = None if counted is None else rules.local_date(counted)
        attempt_day = None if attempt_at is None else rules.local_date(attempt_at)
        found = db.execute(sql, {**params, "days": days, "contact": contact_at, "met": met_at,
                                 "attempt": attempt_at}).fetchone()
        expected = (counted, rules.is_due(counted_day, days, TODAY),
                    rules.attempted(counted_day, attempt_day, days, TODAY))
        assert (found[0], bool(found[1]), bool(found[2])) == expected, (contact_at, met_at, attempt_at)


@pytest.mark.parametrize("phone_calls_weekly", [True, False])
def test_a_contact_outcome_in_sql_is_counts_as_contact(db, phone_calls_weekly):
    params = status.contact_params({"phone_calls_weekly": phone_calls_weekly}, {})
    sql = f"SELECT {status.contact_outcome(':days', ':outcome')}, {status.attempt_outcome(':outcome')}"
    for outcome, days in product(rules.OUTCOMES, (3, 7, 8, 30)):
        found = db.execute(sql, {**params, "outcome": outcome, "days": days}).fetchone()
        assert (bool(found[0]), bool(found[1])) == (rules.counts_as_contact(outcome, days, phone_calls_weekly),
                                                    outcome in rules.ATTEMPT_OUTCOMES), (outcome, days)
