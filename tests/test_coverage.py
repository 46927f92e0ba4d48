"""Coverage: cycle arithmetic, the aggregates against the household status rule, the checklist, the
not-visited lists, printing and the exports (opened and checked row by row)."""
import csv
import io
import re
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from fieldapp import rules
from fieldapp.data import coverage
from fieldapp.data import db as database
from fieldapp.data import households, status, visits
from tests import factories

CLOCK = {"today": "2026-03-01", "offset": "+480 minutes", "default_cycle": 30}


# ---- Pure cycle arithmetic ----

@pytest.mark.parametrize("day, months, expected", [
    (date(2024, 1, 31), 1, date(2024, 2, 29)),   # leap year
    (date(2023, 1, 31), 1, date(2023, 2, 28)),
    (date(2024, 3, 31), -1, date(2024, 2, 29)),
    (date(2026, 12, 15), 1, date(2027, 1, 15)),  # year end
    (date(2026, 1, 15), -1, date(2025, 12, 15)),
    (date(2026, 5, 31), -2, date(2026, 3, 31)),
    (date(2026, 5, 31), 1, date(2026, 6, 30)),
])
def test_add_months_keeps_within_shorter_months(day, months, expected):
    assert rules.add_months(day, months) == expected


@pytest.mark.parametrize("year, month, last", [(2024, 2, 29), (2023, 2, 28), (2100, 2, 28), (2000, 2, 29),
                                               (2026, 4, 30), (2026, 12, 31)])
def test_month_period_ends_on_the_month_end(year, month, last):
    assert rules.month_period(year, month) == (date(year, month, 1), date(year, month, last))


def test_parse_period():
    today = date(2025, 3, 31)
    assert rules.parse_period(None, today)["kind"] == "current"
    last = rules.parse_period("last-month", today)
    assert (last["start"], last["end"], last["key"]) == (date(2025, 2, 1), date(2025, 2, 28), "2025-02")
    this = rules.parse_period("2025-03", date(2025, 3, 10))
    assert this["end"] == date(2025, 3, 10)  # nothing after today is known
    leap = rules.parse_period("2024-02", today)
    assert rules.period_days(leap["start"], leap["end"]) == 29
    span = rules.parse_period(None, today, date(2025, 1, 10), date(2025, 1, 20))
    assert (span["kind"], rules.period_days(span["start"], span["end"])) == ("range", 11)
    year = rules.parse_period(None, today, date(2024, 1, 1), date(2024, 12, 31))
    assert rules.period_days(year["start"], year["end"]) == 366  # a leap year is the longest period
    for spec, start, end, code in [
            ("2025-04", None, None, "month"), ("2025-13", None, None, "month"), ("march", None, None, "month"),
            ("0001-01", None, None, "month"), ("1999-12", None, None, "month"),
            ("99999999999999999999-01", None, None, "month"),
            (None, date(2025, 1, 20), date(2025, 1, 10), "order"), (None, date(2025, 1, 20), None, "dates"),
            (None, date(2025, 4, 1), date(2025, 4, 30), "future"), (None, date(1999, 1, 1), date(1999, 2, 1), "early"),
            (None, date(2023, 12, 31), date(2024, 12, 31), "long")]:
        with pytest.raises(rules.BadPeriod) as refused:
            rules.parse_period(spec, today, start, end)
        assert refused.value.args[0] == code, (spec, start, end)


def test_recent_months_cross_the_year():
    assert rules.recent_months(date(2026, 2, 28), 3) == ["2026-02", "2026-01", "2025-12"]


@pytest.mark.parametrize("days_in_period, days, needed", [(31, 7, 4), (29, 7, 4), (28, 7, 4), (31, 14, 2),
                                                          (28, 30, 1), (31, 30, 1), (60, 30, 2), (3, 7, 1)])
def test_required_visits_follow_the_cycle(days_in_period, days, needed):
    assert rules.required_visits(days_in_period, days) == needed


@pytest.mark.parametrize("days", [1, 7, 14, 30])
def test_visited_in_cycle_is_the_opposite_of_due(days):
    today = date(2024, 3, 1)
    for back in range(0, 70):
        last = today - timedelta(days=back)
        assert rules.visited_in_cycle(last, days, today) is not rules.is_due(last, days, today)
    assert rules.visited_in_cycle(None, days, today) is False


def test_cycle_start_over_a_leap_day():
    assert rules.cycle_start(date(2024, 3, 1), 7) == date(2024, 2, 24)
    assert rules.cycle_start(date(2024, 3, 1), 30) == date(2024, 2, 1)
    assert rules.cycle_start(date(2023, 3, 1), 30) == date(2023, 1, 31)


def test_due_since_and_long_overdue():
    assert rules.due_since(date(2026, 1, 1), date(2025, 1, 1), 7) == date(2026, 1, 8)
    assert rules.due_since(None, date(2025, 1, 1), 7) == date(2025, 1, 1)
    assert rules.long_overdue(date(2026, 1, 1), date(2025, 1, 1), 7, date(2026, 1, 15)) is True
    assert rules.long_overdue(date(2026, 1, 1), date(2025, 1, 1), 7, date(2026, 1, 14)) is False
    assert rules.long_overdue(None, date(2026, 1, 1), 30, date(2026, 1, 31)) is True
    assert rules.long_overdue(None, date(2026, 1, 2), 30, date(2026, 1, 31)) is False


# ---- The aggregates against the status rule ----

@pytest.fixture
def homes(db):
    """Households around the edges of their cycles on CLOCK's day (1 March 2026, Shanghai)."""
    cell = factories.make_cell(db)
    member = factories.make_user(db, "member", "mm")
    factories.assign(db, cell, member)
    made = {}

    def home(name, last=None, tags=(), moved_out=False, occupancy="occupied", household_tag=None,
             created_at="2025-01-01T00:00:00Z"):
        made[name] = factories.make_household(db, cell, address=name, occupancy=occupancy, last_visit_at=last,
                                              last_contact_at=last, last_met_at=last,
                                              last_visit_user_id=member if last else None, created_at=created_at)
        if tags:
            factories.make_resident(db, made[name], tags=tags,
                                    moved_out_at="2025-06-01T00:00:00Z" if moved_out else None)
        if household_tag:
            with database.write(db):
                tag_id = database.scalar(db, "SELECT id FROM tags WHERE code = ?", [household_tag])
                database.insert(db, "household_tags", {"household_id": made[name], "tag_id": tag_id}, returning=None)

    home("30d first minute", "2026-01-30T16:00:00Z")            # 31 Jan 00:00 local: the cycle's first day
    home("30d last second before", "2026-01-30T15:59:59Z")      # 30 Jan 23:59:59 local: due
    home("7d in", "2026-02-22T16:00:00Z", tags=["elderly_alone"])   # 23 Feb local
    home("7d out", "2026-02-22T15:59:59Z", tags=["elderly_alone"])  # 22 Feb local
    home("moved-out tag ignored", "2026-02-10T02:00:00Z", tags=["elderly_alone"], moved_out=True)
    home("household tag 14d", "2026-02-10T02:00:00Z", household_tag="low_income")
    home("household tag 14d in", "2026-02-20T02:00:00Z", household_tag="low_income")
    home("never visited")
    home("never visited, new", created_at="2026-02-20T02:00:00Z")
    home("vacant", None, occupancy="vacant")
    home("long gone", "2025-12-01T02:00:00Z")
    return {"cell": cell, "member": member, "households": made}


def test_current_coverage_agrees_with_the_household_status(db, homes):
    statuses = {h["address"]: h for h in households.with_status(db, CLOCK, cell_ids=[homes["cell"]])}
    waiting = {h["address"] for h in coverage.not_visited(db, CLOCK, [homes["cell"]])}
    expected = {name for name, h in statuses.items() if h["occupancy"] == "occupied" and h["needs_visit"]}
    assert waiting == expected
    assert waiting == {"30d last second before", "7d out", "household tag 14d", "never visited",
                       "never visited, new", "long gone"}
    today = date.fromisoformat(CLOCK["today"])
    rows = coverage.not_visited(db, CLOCK, [homes["cell"]])
    for row in rows:  # the SQL's due dates and days overdue are rules.due_since's
        last = date.fromisoformat(row["last_contact_day"]) if row["last_contact_day"] else None
        since = rules.due_since(last, rules.local_date(row["created_at"]), row["cycle_days"])
        assert (row["due_since"], row["days_overdue"]) == (since.isoformat(), (today - since).days)
    assert [r["days_overdue"] for r in rows] == sorted((r["days_overdue"] for r in rows), reverse=True)
    assert {r["total"] for r in rows} == {6}
    assert len(coverage.not_visited(db, CLOCK, [homes["cell"]], limit=2)) == 2
    [cell] = coverage.current_by_cell(db, CLOCK, [homes["cell"]])
    assert (cell["households"], cell["visited"]) == (10, 4)
    assert coverage.current_by_cell(db, CLOCK) == [cell]  # the whole district takes the other path


def test_long_overdue_follows_the_rule(db, homes):
    found = {h["address"] for h in coverage.long_overdue(db, CLOCK, [homes["cell"]])}
    today = date.fromisoformat(CLOCK["today"])
    expected = set()
    for h in households.with_status(db, CLOCK, cell_ids=[homes["cell"]]):
        if h["occupancy"] != "occupied":
            continue
        last = date.fromisoformat(h["last_contact_day"]) if h["last_contact_day"] else None
        created = rules.local_date(database.scalar(db, "SELECT created_at FROM households WHERE id = ?", [h["id"]]))
        if rules.long_overdue(last, created, h["cycle_days"], today):
            expected.add(h["address"])
    assert found == expected == {"never visited", "long gone"}


def test_past_period_needs_one_visit_per_cycle(db):
    cell = factories.make_cell(db)
    member = factories.make_user(db)
    weekly = factories.make_household(db, cell, address="weekly", created_at="2024-01-01T00:00:00Z")
    factories.make_resident(db, weekly, tags=["elderly_alone"])
    monthly = factories.make_household(db, cell, address="monthly", created_at="2024-01-01T00:00:00Z")
    late = factories.make_household(db, cell, address="added later", created_at="2024-03-05T00:00:00Z")
    for day in ("2024-02-01T02:00:00Z", "2024-02-08T02:00:00Z", "2024-02-15T02:00:00Z"):
        factories.make_visit(db, weekly, member, day)
    factories.make_visit(db, monthly, member, "2024-02-29T15:59:00Z")  # 29 Feb 23:59 local: in February
    february = rules.parse_period("2024-02", date(2026, 3, 1))
    [row] = coverage.period_by_cell(db, CLOCK, february, [cell])
    assert (row["households"], row["visited"]) == (2, 1)  # the weekly one needed 4 visits (29 days // 7)
    [missing] = coverage.not_visited_in_period(db, CLOCK, february, [cell])
    assert (missing["address"], missing["visits"], missing["needed"]) == ("weekly", 3, 4)
    factories.make_visit(db, weekly, member, "2024-02-29T15:59:59Z")
    assert coverage.period_by_cell(db, CLOCK, february, [cell])[0]["visited"] == 2
    march = rules.parse_period("2024-03", date(2026, 3, 1))
    assert coverage.period_by_cell(db, CLOCK, march, [cell])[0]["households"] == 3
    assert late  # created in March: counted in March, not in February


# ---- Contact and attempt against the rule ----

def _standing_visits(db, household_ids):
    """Each household's visits as they stand (amended outcome; rejected ones left out): {id: [(day, outcome)]}."""
    found = {household_id: [] for household_id in household_ids}
    for visit in database.rows(db, "SELECT v.household_id, v.visited_at, coalesce(vs.outcome, v.outcome) AS outcome "
                                   "FROM visits v LEFT JOIN visit_standing vs ON vs.visit_id = v.id "
                                   "WHERE coalesce(vs.rejected, 0) = 0 ORDER BY v.visited_at"):
        if visit["household_id"] in found:
            found[visit["household_id"]].append((rules.local_date(visit["visited_at"]), visit["outcome"]))
    return found


@pytest.fixture
def tries(db):
    """Households of one cell on CLOCK's day with contacts and attempts around their cycles."""
    cell = factories.make_cell(db)
    member = factories.make_user(db)
    made = {}

    def home(name, visits=(), tags=(), retired=False, occupancy="occupied"):
        made[name] = factories.make_household(db, cell, address=name, occupancy=occupancy,
                                              created_at="2025-01-01T00:00:00Z",
                                              retired_at="2026-02-01T00:00:00Z" if retired else None)
        if tags:
            factories.make_resident(db, made[name], tags=tags)
        ids = [factories.make_visit(db, made[name], member, f"2026-{day}T02:00:00Z", outcome=outcome)
               for day, outcome in visits]
        return ids

    home("met, then tried", [("02-20", "met"), ("02-25", "nobody_home")])
    home("tried twice", [("01-10", "met"), ("02-10", "nobody_home"), ("02-20", "no_answer")])
    home("tried three times", [("02-05", "declined"), ("02-12", "nobody_home"), ("02-19", "no_answer")])
    home("tried before the cycle", [("01-20", "nobody_home")])
    home("phoned, weekly", [("02-27", "phone_call")], tags=["elderly_alone"])
    home("phoned, monthly", [("02-20", "phone_call")])
    home("met elsewhere, weekly", [("02-26", "met_elsewhere")], tags=["elderly_alone"])
    [rejected, _tried] = home("contact rejected, then tried", [("02-25", "met"), ("02-26", "nobody_home")])
    [amended] = home("contact amended to an attempt", [("02-24", "met")])
    home("vacant, tried", [("02-24", "nobody_home")], occupancy="vacant")
    home("retired, tried", [("02-05", "nobody_home"), ("02-12", "nobody_home"), ("02-19", "nobody_home")],
         retired=True)
    home("never")
    with database.write(db):
        visits.set_standing(db, rejected, rejected=True)
    visits.amend(db, amended, member, "2026-02-24T03:00:00Z", "nobody opened after all", outcome="nobody_home")
    return {"cell": cell, "households": made}


@pytest.mark.parametrize("phone_calls_weekly", [True, False])
def test_current_coverage_counts_contacts_and_attempts_by_the_rule(db, tries, phone_calls_weekly):
    clock = {**CLOCK, "phone_calls_weekly": phone_calls_weekly, "unreachable_attempts": 3}
    today = date.fromisoformat(CLOCK["today"])
    cell, homes = tries["cell"], tries["households"]
    shown = {h["id"]: h for h in households.with_status(db, clock, cell_ids=[cell])}
    assert homes["retired, tried"] not in shown  # it left the list with the register; its page stays
    by_rule = {}
    for household_id, made in _standing_visits(db, homes.values()).items():
        if household_id not in shown:
            continue
        days = shown[household_id]["cycle_days"]
        contact = max((day for day, outcome in made if rules.counts_as_contact(outcome, days, phone_calls_weekly)),
                      default=None)
        attempt_days = [day for day, outcome in made if outcome in rules.ATTEMPT_OUTCOMES]
        by_rule[household_id] = {
            "due": rules.is_due(contact, days, today),
            "attempted": rules.attempted(contact, max(attempt_days, default=None), days, today),
            "attempts": rules.attempts_in_cycle(attempt_days, days, today),
            "unreachable": rules.is_unreachable(contact, attempt_days, days, today, 3)}
    for household_id, expected in by_rule.items():
        row = shown[household_id]
        assert (bool(row["needs_visit"]), bool(row["attempted"])) == (expected["due"], expected["attempted"]), \
            row["address"]
    names = {household_id: name for name, household_id in homes.items()}
    counted = [i for i in by_rule if shown[i]["occupancy"] == "occupied"]
    [numbers] = coverage.current_by_cell(db, clock, [cell])
    assert numbers == {"cell_id": cell, "households": len(counted),
                       "visited": sum(not by_rule[i]["due"] for i in counted),
                       "attempted": sum(by_rule[i]["attempted"] for i in counted)}
    waiting = {names[h["id"]]: h for h in coverage.not_visited(db, clock, [cell])}
    assert set(waiting) == {names[i] for i in counted if by_rule[i]["due"]}
    assert {name for name, h in waiting.items() if h["attempted"]} == {
        names[i] for i in counted if by_rule[i]["attempted"]}
    tried = status.attempt_days(db, clock, list(waiting.values()))
    assert {names[i]: len(days) for i, days in tried.items()} == {
        names[i]: by_rule[i]["attempts"] for i in counted if by_rule[i]["attempted"]}
    unreachable = coverage.unreachable(db, clock, [cell])
    assert [names[h["id"]] for h in unreachable] == [names[i] for i in counted if by_rule[i]["unreachable"]]
    # What the rule decides for these households, in words.
    weekly_phone = "phoned, weekly" in waiting
    assert weekly_phone is not phone_calls_weekly
    assert {"tried twice", "tried three times", "tried before the cycle", "contact rejected, then tried",
            "contact amended to an attempt", "never"} <= set(waiting)
    assert "met, then tried" not in waiting and "phoned, monthly" not in waiting
    assert "met elsewhere, weekly" not in waiting
    assert tried[homes["tried twice"]] == ["2026-02-10", "2026-02-20"]
    assert [(h["attempts"], h["last_attempt_day"], h["total"]) for h in unreachable] == [(3, "2026-02-19", 1)]


def test_unreachable_follows_the_setting_and_the_most_tried_come_first(db, tries):
    cell, homes = tries["cell"], tries["households"]
    found = coverage.unreachable(db, {**CLOCK, "unreachable_attempts": 2}, [cell])
    addresses = [h["address"] for h in found]
    assert addresses[0] == "tried three times"
    assert set(addresses) == {"tried three times", "tried twice"}
    assert len(coverage.unreachable(db, {**CLOCK, "unreachable_attempts": 2}, [cell], limit=1)) == 1
    assert coverage.unreachable(db, {**CLOCK, "unreachable_attempts": 4}, [cell]) == []
    assert homes


def test_a_past_period_counts_contacts_as_they_stand_with_the_tags_that_held_then(db):
    cell = factories.make_cell(db)
    member = factories.make_user(db)
    weekly_tag = database.scalar(db, "SELECT id FROM tags WHERE code = 'elderly_alone'")
    made = {}

    def home(name, tag=None, left=None, retired=None, visits=()):
        made[name] = factories.make_household(db, cell, address=name, created_at="2025-01-01T00:00:00Z",
                                              retired_at=retired)
        if tag:
            resident = factories.make_resident(db, made[name], moved_out_at=left)
            with database.write(db):
                database.insert(db, "resident_tags", {"resident_id": resident, "tag_id": weekly_tag,
                                                      "started_on": tag[0], "ended_on": tag[1]}, returning=None)
        return [factories.make_visit(db, made[name], member, f"2026-{day}T02:00:00Z", outcome=outcome)
                for day, outcome in visits]

    home("weekly all February, met once", ("2026-01-01", None), visits=[("02-03", "met")])
    home("weekly tag ended 10 Feb, met once", ("2025-06-01", "2026-02-10"), visits=[("02-03", "met")])
    home("weekly tag from 1 March, met once", ("2026-03-01", None), visits=[("02-03", "met")])
    home("left on 1 March, weekly in February", ("2025-06-01", "2026-03-01"), left="2026-03-01",
         visits=[("02-03", "met"), ("02-10", "met"), ("02-17", "nobody_home")])
    [rejected] = home("only contact rejected", visits=[("02-03", "met")])
    [amended] = home("contact amended to an attempt", visits=[("02-04", "met")])
    home("phoned", visits=[("02-05", "phone_call")])
    home("retired on 15 Feb, tried", retired="2026-02-15T00:00:00Z", visits=[("02-06", "nobody_home")])
    home("retired on 15 Jan", retired="2026-01-15T00:00:00Z", visits=[("02-06", "met")])
    with database.write(db):
        visits.set_standing(db, rejected, rejected=True)
    visits.amend(db, amended, member, "2026-02-04T03:00:00Z", "nobody was home", outcome="nobody_home")
    february = rules.parse_period("2026-02", date(2026, 3, 1))
    days_in_period = rules.period_days(february["start"], february["end"])
    weekly_then = {"weekly all February, met once", "left on 1 March, weekly in February"}
    names = {household_id: name for name, household_id in made.items()}
    counted = {i for i in names if names[i] != "retired on 15 Jan"}
    for phone_calls_weekly in (True, False):
        clock = {**CLOCK, "phone_calls_weekly": phone_calls_weekly}
        standing = {i: rules.period_standing([outcome for _day, outcome in found], days_in_period,
                                             7 if names[i] in weekly_then else 30, phone_calls_weekly)
                    for i, found in _standing_visits(db, counted).items()}
        [row] = coverage.period_by_cell(db, clock, february, [cell])
        assert row == {"cell_id": cell, "households": len(counted),
                       "visited": sum(s == "contacted" for s in standing.values()),
                       "attempted": sum(s == "attempted" for s in standing.values())}
        missing = {names[h["id"]]: h for h in coverage.not_visited_in_period(db, clock, february, [cell])}
        assert set(missing) == {names[i] for i, s in standing.items() if s != "contacted"}
        assert {name: h["cycle_days"] for name, h in missing.items() if h["cycle_days"] != 30} == {
            "weekly all February, met once": 7, "left on 1 March, weekly in February": 7}
    assert (row["households"], row["visited"], row["attempted"]) == (8, 3, 3)
    assert {name: (h["visits"], h["needed"], h["attempts"]) for name, h in missing.items()} == {
        "weekly all February, met once": (1, 4, 0), "left on 1 March, weekly in February": (2, 4, 1),
        "only contact rejected": (0, 1, 0), "contact amended to an attempt": (0, 1, 1),
        "retired on 15 Feb, tried": (0, 1, 1)}


# ---- Routes ----

@pytest.fixture
def world(db):
    """Grid A (cells A1 of m1, A2 of m2) led by `lead`; grid B with B1 of m3; admin `boss`."""
    grid_a, grid_b = factories.make_grid(db, name="甲网格"), factories.make_grid(db, name="乙网格")
    a1 = factories.make_cell(db, grid_a, name="甲一区")
    a2 = factories.make_cell(db, grid_a, name="甲二区")
    b1 = factories.make_cell(db, grid_b, name="乙一区")
    m1, m2, m3 = (factories.make_user(db, "member", name, display_name=label)
                  for name, label in (("m1", "张三"), ("m2", "李四"), ("m3", "王五")))
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    for cell, member in ((a1, m1), (a2, m2), (b1, m3)):
        factories.assign(db, cell, member)
    now = datetime.now().astimezone()
    recent = rules.iso(now - timedelta(days=2))
    old = rules.iso(now - timedelta(days=50))
    homes = {
        "a1 visited": factories.make_household(db, a1, address="甲一 1号"),
        "a1 old": factories.make_household(db, a1, address="甲一 2号"),
        "a1 never": factories.make_household(db, a1, address="甲一 3号", created_at=rules.iso(now - timedelta(days=400))),
        "a1 vacant": factories.make_household(db, a1, address="甲一 4号", occupancy="vacant"),
        "a2 visited": factories.make_household(db, a2, address="甲二 1号"),
        "b1 old": factories.make_household(db, b1, address="乙一 1号"),
    }
    factories.make_visit(db, homes["a1 visited"], m1, recent)
    factories.make_visit(db, homes["a1 old"], m1, old)
    factories.make_visit(db, homes["a2 visited"], m2, recent)
    factories.make_visit(db, homes["b1 old"], m3, old)
    return dict(grid_a=grid_a, grid_b=grid_b, a1=a1, a2=a2, b1=b1, m1=m1, m2=m2, m3=m3, homes=homes)


def test_leader_sees_the_grid_checklist_and_dashboard(auth, client, world):
    auth.login("lead")
    body = client.get("/coverage/?lang=en").get_data(as_text=True)
    assert "甲一区" in body and "甲二区" in body and "乙一区" not in body
    assert "3 of 5 households contacted" not in body  # vacant households are not counted
    assert "2 of 4 households contacted" in body and "50.0%" in body
    assert "Export Excel" in body and "Export CSV" in body and "Not visited" in body
    assert "张三" in body and "李四" in body and "王五" not in body


def test_attempts_show_beside_contacts_on_the_dashboard_the_lists_and_the_exports(auth, client, db, world):
    now = datetime.now().astimezone()
    for days in (3, 2, 1):
        factories.make_visit(db, world["homes"]["a1 old"], world["m1"], rules.iso(now - timedelta(days=days)),
                             outcome="nobody_home")
    factories.make_visit(db, world["homes"]["a1 never"], world["m1"], rules.iso(now - timedelta(days=1)),
                         outcome="declined")
    auth.login("lead")
    body = client.get("/coverage/?lang=en").get_data(as_text=True)
    assert "2 of 4 households contacted" in body and "2 households tried, not reached" in body
    unreachable = body.split('id="unreachable"', 1)[1].split("</section>", 1)[0]
    assert re.search(r'id="unreachable-title">.*Unreachable <span class="count">1</span>', unreachable)
    assert "甲一 2号" in unreachable and "3 attempts" in unreachable and "甲一 3号" not in unreachable
    assert f'href="/households/{world["homes"]["a1 old"]}"' in unreachable
    row = body.split(f'data-cell-id="{world["a1"]}"', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'<td class="num" data-label="([^"]+)">([^<]+)</td>', row)
    assert cells == [("Households", "3"), ("Contacted", "1"), ("Attempted", "2"), ("Due", "2"), ("With photo", "0"),
                     ("Attempted share", "66.7%")]
    listed = client.get(f"/coverage/not-visited?cell={world['a1']}&lang=en").get_data(as_text=True)
    old = listed.split(f'data-household-id="{world["homes"]["a1 old"]}"', 1)[1].split("</li>", 1)[0]
    never = listed.split(f'data-household-id="{world["homes"]["a1 never"]}"', 1)[1].split("</li>", 1)[0]
    assert "attempted 3 times" in old and "attempted once" in never
    printed = client.get("/coverage/print?lang=en").get_data(as_text=True)
    assert "<dt>Attempted</dt><dd>2 (" in printed and "<th scope=\"col\">Attempts</th>" in printed
    rows = list(csv.reader(io.StringIO(client.get("/coverage/export?format=csv&table=households")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][7:] == ["逾期天数", "本周期尝试次数", "最近联系日期"]
    assert {r[2]: r[8] for r in rows[1:]} == {"甲一 2号": "3", "甲一 3号": "1"}
    auth.logout()
    auth.login("m3")  # another grid: none of it
    assert "甲一 2号" not in client.get("/coverage/?lang=en").get_data(as_text=True)


def test_admin_sees_every_grid_and_member_only_their_cells(auth, client, world):
    auth.login("boss")
    body = client.get("/coverage/").get_data(as_text=True)
    assert "甲网格" in body and "乙网格" in body
    auth.logout()
    auth.login("m1")
    body = client.get("/coverage/?lang=en").get_data(as_text=True)
    assert "甲一区" in body and "甲二区" not in body and "1 of 3 households contacted" in body


def test_not_visited_list_of_a_cell_most_overdue_first(auth, client, world):
    auth.login("lead")
    body = client.get(f"/coverage/not-visited?cell={world['a1']}&lang=en").get_data(as_text=True)
    listed = body.split('id="not-visited"', 1)[1].split("</ul>", 1)[0]
    assert "甲一 1号" not in listed and "甲一 4号" not in listed
    assert listed.index("甲一 3号") < listed.index("甲一 2号")  # never visited for 400 days beats 20 days overdue
    assert "Responsible: 张三" in listed and "Never visited" in listed
    assert "2 households not visited" in body


def test_not_visited_scope(auth, client, world):
    auth.login("lead")
    assert client.get(f"/coverage/not-visited?cell={world['b1']}").status_code == 404
    assert client.get(f"/coverage/not-visited?member={world['m3']}").status_code == 404
    assert client.get(f"/coverage/not-visited?member={world['m2']}").status_code == 200
    auth.logout()
    auth.login("m1")
    assert client.get(f"/coverage/not-visited?cell={world['a2']}").status_code == 404
    assert client.get(f"/coverage/not-visited?member={world['m2']}").status_code == 404
    body = client.get(f"/coverage/not-visited?member={world['m1']}").get_data(as_text=True)
    assert "甲一 2号" in body and "甲二" not in body


def test_a_visit_that_lands_leaves_the_list_with_a_tick(auth, client, db, world):
    auth.login("lead")
    page = client.get(f"/coverage/not-visited?cell={world['a1']}").get_data(as_text=True)
    poll = re.search(r'hx-get="([^"]+)" hx-trigger="every', page).group(1).replace("&amp;", "&")
    assert "甲一 2号" in page.split('id="not-visited"', 1)[1]
    factories.make_visit(db, world["homes"]["a1 old"], world["m1"], rules.iso(rules.utcnow() + timedelta(seconds=1)),
                         received_at=rules.iso(rules.utcnow() + timedelta(seconds=1)))
    response = client.get(poll, headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "<html" not in body and 'hx-trigger="every' in body
    listed, landed = body.split('id="just-visited"', 1)
    assert "甲一 2号" not in listed.split('id="not-visited"', 1)[1] and "甲一 3号" in listed
    assert "甲一 2号" in landed and "✓" in landed
    assert poll in body.replace("&amp;", "&")  # the next poll asks about the same rows since the same time


def test_past_period_and_a_bad_one(auth, client, world):
    auth.login("lead")
    today = rules.today()
    month = rules.add_months(today, -1).strftime("%Y-%m")
    body = client.get("/coverage/?period=last-month&lang=en").get_data(as_text=True)
    assert f"Month {month}" in body
    body = client.get("/coverage/?period=2999-01&lang=en").get_data(as_text=True)
    assert "showing the current cycle" in body
    fragment = client.get("/coverage/?period=last-month", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "甲一区" in fragment


def test_print_has_one_section_per_cell_with_a_signature_line(auth, client, world):
    auth.login("lead")
    body = client.get("/coverage/print?lang=en").get_data(as_text=True)
    assert body.count('class="print-cell') == 2 and body.count("Grid leader (signature)") == 2
    auth.logout()
    auth.login("boss")
    body = client.get("/coverage/print?lang=en").get_data(as_text=True)
    assert "Choose the grid to print" in body and 'class="print-cell' not in body
    body = client.get(f"/coverage/print?grid={world['grid_b']}").get_data(as_text=True)
    assert body.count('class="print-cell') == 1 and "乙一区" in body


def test_excel_export_matches_the_database(auth, client, db, world):
    auth.login("lead")
    response = client.get("/coverage/export?format=xlsx")
    assert response.status_code == 200 and "spreadsheetml" in response.mimetype
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["微网格覆盖", "党员覆盖", "未走访住户"]
    cells = list(book["微网格覆盖"].iter_rows(values_only=True))
    assert cells[0] == ("网格", "微网格编号", "微网格", "负责党员", "住户数", "已联系", "已尝试未联系", "未走访", "联系率",
                        "尝试率")
    clock = {"today": rules.today().isoformat(), "offset": "+480 minutes", "default_cycle": 30}
    counted = {r["cell_id"]: r for r in coverage.current_by_cell(db, clock, [world["a1"], world["a2"]])}
    codes = {database.scalar(db, "SELECT code FROM cells WHERE id = ?", [c]): c for c in (world["a1"], world["a2"])}
    assert len(cells) == 3
    for row in cells[1:]:
        numbers = counted[codes[row[1]]]
        assert row[4:8] == (numbers["households"], numbers["visited"], numbers["attempted"],
                            numbers["households"] - numbers["visited"])
        assert row[8] == pytest.approx(numbers["visited"] / numbers["households"])
        assert row[9] == pytest.approx(numbers["attempted"] / numbers["households"])
        assert isinstance(row[4], int)
    homes = list(book["未走访住户"].iter_rows(values_only=True))
    assert homes[0][4] == "最近走访日期"
    waiting = {h["address"]: h for h in coverage.not_visited(db, clock, [world["a1"], world["a2"]])}
    assert {row[2] for row in homes[1:]} == set(waiting) == {"甲一 2号", "甲一 3号"}
    for row in homes[1:]:
        household = waiting[row[2]]
        last = household["last_visit_at"]
        assert (row[4].date() if row[4] else None) == (rules.local_date(last) if last else None)
        assert row[3] == household["cycle_days"] and isinstance(row[7], int)
    dated = next(row for row in homes[1:] if row[2] == "甲一 2号")
    assert isinstance(dated[4], datetime)  # a date cell, not text
    sheet = book["未走访住户"]
    row_number = 2 + [row[2] for row in homes[1:]].index("甲一 2号")
    assert sheet.cell(row_number, 5).number_format == "yyyy-mm-dd"
    assert book["微网格覆盖"].cell(2, 9).number_format == "0.0%"


def test_csv_export_of_households_and_members(auth, client, world):
    auth.login("lead")
    response = client.get("/coverage/export?format=csv&table=households")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["网格", "微网格", "地址"]
    assert sorted(r[2] for r in rows[1:]) == ["甲一 2号", "甲一 3号"]
    never = next(r for r in rows if r[2] == "甲一 3号")
    assert never[4] == "" and int(never[7]) >= 399
    members = list(csv.reader(io.StringIO(client.get("/coverage/export?format=csv&table=members")
                                          .get_data(as_text=True).lstrip("\ufeff"))))
    assert {(r[1], r[3], r[4], r[5]) for r in members[1:]} == {("张三", "3", "1", "0"), ("李四", "1", "1", "0")}
