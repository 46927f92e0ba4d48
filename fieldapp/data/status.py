"""A household's visit cycle and status in SQL, built once from the pure rules for every list, map and count.

rules.cycle_days (the shortest of the tags' cycles, else the default), rules.is_due and rules.household_status
as pieces of SQL over a household h: the member's list and the household page (households.with_status, which
the exports read too), the map's aggregates (mapdata), coverage and the overdue page (coverage) build their
queries from them. The tag cycles and request counts are grouped joins over the households in scope (a
subquery per household costs a third more), and "visited in this cycle" compares the stored UTC text with the
instant the cycle began: cycles take few values, so that instant is computed once per value and put into a
CASE. tests/test_demo.py holds the status equal to the pure rule for every demo household, tests/test_map.py
and tests/test_coverage.py hold the map and coverage equal to with_status.
"""
from datetime import date

from fieldapp import rules
from fieldapp.data.db import rows


def _listed(values):
    """An SQL list of string literals: ('open', 'in_progress')."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


_OPEN = _listed(rules.OPEN_REQUEST_STATUSES)
_COUNTED = _listed((*rules.OPEN_REQUEST_STATUSES, "resolved"))  # resolved: awaiting the return visit


def with_clause(dialect, where=None, *, requests=False, codes=False):
    """The WITH clause that a query over the households h matching the SQL condition where (None: every
    household) starts from: CTE cycles (see _cycles), and request_counts (see _request_counts) if asked, in the
    words of dialect (data/dialect.py)."""
    # Scoped by where, both walk from the matching households (CTE scope, computed once) into the indexes; for
    # every household, one pass over the tags and the open requests is faster.
    scoped = where is not None
    tables = [f"scope AS MATERIALIZED (SELECT h.id FROM households h WHERE {where})"] if scoped else []
    if requests:
        tables.append(_request_counts(dialect, scoped))
    tables.append(_cycles(dialect, scoped, codes))
    return "WITH " + ", ".join(tables)


def _cycles(dialect, scoped, codes):
    """CTE `cycles(household_id, days[, codes])`: the shortest cycle of the tags of each tagged household and of
    its current residents, and if asked the codes of those tags (each once, in order, comma-separated)."""
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
    return (f"cycles AS (SELECT household_id, min(days) AS days{listed} FROM ("
            f"SELECT r.household_id, t.cycle_days AS days{code} {residents} "
            f"WHERE r.moved_out_at IS NULL AND rt.ended_on IS NULL AND t.cycle_days IS NOT NULL "
            f"{'UNION' if codes else 'UNION ALL'} "
            f"SELECT ht.household_id, t.cycle_days{code} {own} WHERE t.cycle_days IS NOT NULL"
            f") AS tagged GROUP BY household_id)")


def _request_counts(dialect, scoped):
    """CTE `request_counts(household_id, open_requests, overdue_requests, return_visits)`: each household's open
    requests (open or in progress), those of them due before :today, and resolved ones awaiting a return visit."""
    source = f"FROM scope s {dialect.ordered_join} requests q ON q.household_id = s.id" if scoped else "FROM requests q"
    return (f"request_counts AS (SELECT q.household_id, count(*) FILTER (WHERE q.status IN {_OPEN}) AS open_requests, "
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


def needs_visit(began, last_visit="h.last_visit_at"):
    """SQL of whether a household is due (rules.is_due): never visited, or not since its cycle began."""
    return f"({last_visit} IS NULL OR {last_visit} < {began})"


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
