"""A household's visit cycle and status in SQL, built once from the pure rules for every list, map and count.

rules.cycle_days (the shortest of the tags' cycles, else the default), rules.counting_contact, rules.is_due,
rules.attempted and rules.household_status as pieces of SQL over a household h: the member's list and the
household page (households.with_status, which the exports read too), the map's aggregates (mapdata), coverage and
the overdue page (coverage) build their queries from them. They read the household's own columns (last_contact_at,
last_met_at, last_attempt_at, kept by data/visits), never its visits. The tag cycles and request counts are
grouped joins over the households in scope (a subquery per household costs a third more), and "reached in this
cycle" compares the stored UTC text with the instant the cycle began: cycles take few values, so that instant is
computed once per value and put into a CASE. tests/test_status.py holds each piece equal to its rule,
tests/test_demo.py the status for every demo household, tests/test_map.py and tests/test_coverage.py hold the map
and coverage equal to with_status.
"""
from datetime import date

from fieldapp import rules
from fieldapp.data.db import in_clause, rows
from fieldapp.data.standing import COUNTS, OUTCOME_NOW, STANDING_JOIN


def listed(values):
    """An SQL list of string literals: ('open', 'in_progress')."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


_OPEN = listed(rules.OPEN_REQUEST_STATUSES)
_COUNTED = listed((*rules.OPEN_REQUEST_STATUSES, "resolved"))  # resolved: awaiting the return visit


def with_clause(dialect, where=None, *, requests=False, codes=False, held_on=False):
    """The WITH clause that a query over the households h matching the SQL condition where (None: every
    household) starts from: CTE cycles (see _cycles; held_on: the tags that held on the day :held_on), and
    request_counts (see _request_counts) if asked, in the words of dialect (data/dialect.py)."""
    # Scoped by where, both walk from the matching households (CTE scope, computed once) into the indexes; for
    # every household, one pass over the tags and the open requests is faster. Each is computed once
    # (MATERIALIZED): PostgreSQL, which cannot estimate how many households the scope's condition leaves, would
    # otherwise join them into each household again (a member's list: 35 ms instead of 12).
    scoped = where is not None
    tables = [f"scope AS MATERIALIZED (SELECT h.id FROM households h WHERE {where})"] if scoped else []
    if requests:
        tables.append(_request_counts(dialect, scoped))
    tables.append(_cycles(dialect, scoped, codes, held_on))
    return "WITH " + ", ".join(tables)


# Which residents' tags make a household's cycle: now, those not ended of residents still there; on a past day
# :held_on, those that had started and not yet ended that day, of residents who had not left by then (their
# tags end the day they leave; a resident who left later counts with the tags they had).
_HOLDS_NOW = "r.moved_out_at IS NULL AND rt.ended_on IS NULL"
_HELD_ON = ("(r.moved_out_at IS NULL OR substr(r.moved_out_at, 1, 10) > :held_on) "
            "AND (rt.started_on IS NULL OR rt.started_on <= :held_on) "
            "AND (rt.ended_on IS NULL OR rt.ended_on > :held_on)")


def _cycles(dialect, scoped, codes, held_on=False):
    """CTE `cycles(household_id, days[, codes])`: the shortest cycle of the tags of each tagged household and of
    its residents (see _HOLDS_NOW and _HELD_ON), and if asked the codes of those tags (each once, in order,
    comma-separated)."""
    if scoped:  # walking from the scope into the indexes
        join = dialect.ordered_join
        residents = (f"FROM scope s {join} residents r ON r.household_id = s.id "
                     "JOIN resident_tags rt ON rt.resident_id = r.id JOIN tags t ON t.id = rt.tag_id")
        own = f"FROM scope s {join} household_tags ht ON ht.household_id = s.id JOIN tags t ON t.id = ht.tag_id"
    else:
        residents = "FROM tags t JOIN resident_tags rt ON rt.tag_id = t.id JOIN residents r ON r.id = rt.resident_id"
        own = "FROM tags t JOIN household_tags ht ON ht.tag_id = t.id"
    code = ", t.code" if codes else ""
    listed = f", {dialect.joined('code', order='code')} AS codes" if codes else ""
    return (f"cycles AS MATERIALIZED (SELECT household_id, min(days) AS days{listed} FROM ("
            f"SELECT r.household_id, t.cycle_days AS days{code} {residents} "
            f"WHERE {_HELD_ON if held_on else _HOLDS_NOW} AND t.cycle_days IS NOT NULL "
            f"{'UNION' if codes else 'UNION ALL'} "
            f"SELECT ht.household_id, t.cycle_days{code} {own} WHERE t.cycle_days IS NOT NULL"
            f") AS tagged GROUP BY household_id)")


def _request_counts(dialect, scoped):
    """CTE `request_counts(household_id, open_requests, overdue_requests, return_visits)`: each household's open
    requests (open or in progress), those of them due before :today, and resolved ones awaiting a return visit."""
    source = f"FROM scope s {dialect.ordered_join} requests q ON q.household_id = s.id" if scoped else "FROM requests q"
    return (f"request_counts AS MATERIALIZED (SELECT q.household_id, count(*) FILTER (WHERE q.status IN {_OPEN}) AS open_requests, "
            f"count(*) FILTER (WHERE q.status IN {_OPEN} AND q.due_date < :today) AS overdue_requests, "
            f"count(*) FILTER (WHERE q.status = 'resolved') AS return_visits {source} "
            f"WHERE q.status IN {_COUNTED} GROUP BY q.household_id)")


def cycle_days(cycles="c"):
    """SQL of a household's cycle in days (rules.cycle_days), with the CTE cycles joined as cycles."""
    return f"(CASE WHEN {cycles}.days < :default_cycle THEN {cycles}.days ELSE :default_cycle END)"


def cycle_values(db, default_days):
    """Every cycle a household can have: the default and each shorter tag cycle."""
    tag_days = [r["cycle_days"] for r in rows(db, "SELECT DISTINCT cycle_days FROM tags WHERE cycle_days IS NOT NULL")]
    return sorted({default_days, *[d for d in tag_days if d < default_days]})


def by_cycle(db, clock, params, name, days, day_for):
    """A CASE over the SQL days (a household's cycle) giving the stored UTC instant at which the local day
    day_for(cycle) begins, with one parameter (name0, name1, ...) per cycle a household can have."""
    parts = []
    for i, length in enumerate(cycle_values(db, clock["default_cycle"])):
        params[f"{name}{i}"] = rules.local_midnight_utc(day_for(length), rules.clock_zone(clock))
        parts.append(f"WHEN {int(length)} THEN :{name}{i}")
    return f"(CASE {days} {' '.join(parts)} END)"


def cycle_began(db, clock, params, days):
    """SQL of the stored UTC instant at which the current cycle (rules.cycle_start) of a household whose cycle
    is the SQL days began: a visit since then covers it."""
    today = date.fromisoformat(clock["today"])
    return by_cycle(db, clock, params, "since", days, lambda length: rules.cycle_start(today, length))


# A household still in the register (not retired). Written so that SQLite reads the households (or a cell's
# index) rather than walking the index of retired households for the many that are not: a third faster.
IN_REGISTER = "coalesce(h.retired_at, '') = ''"


def contact_params(clock, params):
    """Add the contact settings of clock (fieldapp.clock; the defaults where it has none) to params."""
    params["phone_calls_weekly"] = int(bool(clock.get("phone_calls_weekly", rules.DEFAULT_PHONE_CALLS_WEEKLY)))
    params["unreachable_attempts"] = int(clock.get("unreachable_attempts", rules.DEFAULT_UNREACHABLE_ATTEMPTS))
    return params


def phone_calls_count(days):
    """SQL of rules.phone_calls_count for a household whose cycle is the SQL days (see contact_params)."""
    return f"(:phone_calls_weekly = 1 OR {days} > {rules.WEEKLY_CYCLE_DAYS})"


def last_contact(days, contact="h.last_contact_at", met="h.last_met_at"):
    """SQL of the last contact that counts for a household's cycle (rules.counting_contact), from the SQL of its
    cycle, its last contact and its last contact in person."""
    return f"(CASE WHEN {phone_calls_count(days)} THEN {contact} ELSE {met} END)"


def needs_visit(began, last_contact_at):
    """SQL of whether a household is due (rules.is_due): never reached, or not since its cycle began, from the SQL
    of the last contact that counts (last_contact). Never reached compares as '' (before every instant), so that
    the contact's SQL is evaluated once."""
    return f"(coalesce({last_contact_at}, '') < {began})"


def attempted(began, due, last_attempt="h.last_attempt_at"):
    """SQL of whether a household was tried but not reached in its cycle (rules.attempted), from the SQL of
    whether it is due (needs_visit) and of its last attempt."""
    return f"({due} AND {last_attempt} IS NOT NULL AND {last_attempt} >= {began})"


def contact_outcome(days, outcome=OUTCOME_NOW):
    """SQL of whether a visit's outcome is a contact for a household whose cycle is the SQL days
    (rules.counts_as_contact)."""
    return (f"({outcome} IN {listed(rules.IN_PERSON_OUTCOMES)} "
            f"OR ({outcome} = 'phone_call' AND {phone_calls_count(days)}))")


def attempt_outcome(outcome=OUTCOME_NOW):
    """SQL of whether a visit's outcome is an attempt (rules.ATTEMPT_OUTCOMES)."""
    return f"{outcome} IN {listed(rules.ATTEMPT_OUTCOMES)}"


def attempt_days(db, clock, households):
    """The local days (ISO, oldest first) of this cycle's attempts, as they stand, of those of households (rows
    with id, cycle_days and attempted) that were attempted: {id: [day, ...]}, one query over the visits by index."""
    today = date.fromisoformat(clock["today"])
    zone = rules.clock_zone(clock)
    starts = {h["id"]: rules.cycle_start(today, h["cycle_days"]) for h in households if h["attempted"]}
    if not starts:
        return {}
    params = {"since": rules.local_midnight_utc(min(starts.values()), zone)}
    found = {}
    for visit in rows(db, f"SELECT v.household_id, v.visited_at FROM visits v {STANDING_JOIN} "
                          f"WHERE {in_clause('v.household_id', sorted(starts), params, 'household')} "
                          f"AND v.visited_at >= :since AND {COUNTS} AND {attempt_outcome()} "
                          "ORDER BY v.household_id, v.visited_at", params):
        day = rules.local_date(visit["visited_at"], zone)
        if day >= starts[visit["household_id"]]:
            found.setdefault(visit["household_id"], []).append(day.isoformat())
    return found


def status(*, overdue, open_requests, occupancy, due, ranked=False):
    """SQL of a household's status (rules.household_status), or of its rank in rules.STATUSES if ranked, from the
    SQL of its overdue and open request counts, its occupancy and whether it needs a visit."""
    holds = {"overdue_request": f"{overdue} > 0", "open_request": f"{open_requests} > 0",
             "vacant": f"{occupancy} != 'occupied'", "due": due}
    *decided, rest = rules.STATUS_PRECEDENCE

    def value(name):
        """The SQL value standing for the status name."""
        return str(rules.URGENCY[name]) if ranked else f"'{name}'"

    cases = " ".join(f"WHEN {holds[name]} THEN {value(name)}" for name in decided)
    return f"(CASE {cases} ELSE {value(rest)} END)"
