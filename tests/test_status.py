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
                                          last_visit_day=None if due else TODAY, days=30, on_day=TODAY)
        params = {"overdue": overdue, "open": open_requests, "occupancy": occupancy, "due": due}
        found = db.execute(f"SELECT {sql[False]}, {sql[True]}", params).fetchone()
        assert found == (expected, rules.URGENCY[expected]), params


def _moments(days):
    """Last visits around the local midnight that begins a cycle of days ending TODAY (16:00 UTC the day before)."""
    began = datetime.combine(rules.cycle_start(TODAY, days), datetime.min.time(), rules.SHANGHAI)
    return [began + timedelta(seconds=shift) for shift in (-86_400, -1, 0, 1, 86_399)]


@pytest.mark.parametrize("days", [7, 14, 30])
def test_needing_a_visit_is_is_due_on_the_local_day_of_the_last_visit(db, days):
    params = dict(CLOCK)
    sql = status.needs_visit(status.cycle_began(db, CLOCK, params, ":days"), ":last")
    for moment in [None, *_moments(days)]:
        last = None if moment is None else rules.iso(moment.astimezone(timezone.utc))
        expected = rules.is_due(None if last is None else rules.local_date(last), days, TODAY)
        assert db.execute(f"SELECT {sql}", {**params, "days": days, "last": last}).fetchone()[0] == expected, last
