"""Visit coverage as aggregates: per cell in the current cycle or a past period, who holds which cell,
which households are not visited (and which are unreachable), and how busy each member has been.

Only a contact makes a household visited; an attempt makes it attempted (tried, not reached). The current cycle
reads the household's columns only (last_contact_at, last_met_at, last_attempt_at; no scan of visits): a
household with a cycle of N days is covered when the last contact that counts for it began on or after local
midnight N - 1 days ago, the same rule as households.with_status (tests hold them together), both built by
data/status.py: the shortest of the default cycle and the cycles of the household's and its residents' tags.
A past period counts each household's visits in it by index, as they stand (amended outcome, not rejected), with
the tags that held on its last day. Retired households are left out of the current cycle, and of a past period
only if they were retired before it began.
"""
from datetime import date, timedelta

from fieldapp import rules
from fieldapp.data import status
from fieldapp.data.db import in_clause, one, rows
from fieldapp.data.standing import COUNTS, STANDING_JOIN


def cells_clause(cell_ids, params, column="h.cell_id", name="cell"):
    """SQL restricting column to cell_ids (None: every cell), adding its parameters (name0, ...) to params."""
    return in_clause(column, cell_ids, params, name)


_TAGGED = "LEFT JOIN cycles c ON c.household_id = h.id "
# A household's cycle in days: the shortest of its tags' cycles, never longer than the default.
_DAYS = status.cycle_days("c")
# The last contact that counts for that cycle (a phone call may not, for a weekly one).
_CONTACT = status.last_contact(_DAYS)


def _with_cycles(dialect, cell_ids, params, held_on=False):
    """The WITH clause of CTE cycles (data/status.py) for the households of cell_ids (None: all); held_on: with
    the tags that held on the day :held_on."""
    scope = None if cell_ids is None else cells_clause(cell_ids, params, name="scope")
    return status.with_clause(dialect, scope, held_on=held_on)


_WHO = "LEFT JOIN users lu ON lu.id = h.last_visit_user_id "


def _current(db, clock, cell_ids, params, who=""):
    """(FROM-WHERE over the occupied households of cell_ids not retired, SQL of the instant since which a contact
    covers one, SQL of whether one needs a visit)."""
    head, from_where, since, needs = _current_parts(db, clock, cell_ids, params, who)
    return f"{head} SELECT {{columns}} {from_where}", since, needs


def _current_parts(db, clock, cell_ids, params, who=""):
    """_current's WITH clause and FROM-WHERE apart, with the SQL of the cycle's first instant and of the need."""
    params["default_cycle"] = clock["default_cycle"]
    status.contact_params(clock, params)
    since = status.cycle_began(db, clock, params, _DAYS)
    from_where = (f"FROM households h {_TAGGED}{who}WHERE h.occupancy = 'occupied' AND {status.IN_REGISTER} "
                  f"AND {cells_clause(cell_ids, params)}")
    return _with_cycles(db.dialect, cell_ids, params), from_where, since, status.needs_visit(since, _CONTACT)


def current_by_cell(db, clock, cell_ids=None):
    """Per cell: occupied households, how many were contacted within their current cycle (visited) and how many
    were only attempted (tried, still due)."""
    params = {}
    sql, since, needs = _current(db, clock, cell_ids, params)
    columns = (f"h.cell_id, count(*) AS households, count(*) FILTER (WHERE NOT {needs}) AS visited, "
               f"count(*) FILTER (WHERE {status.attempted(since, needs)}) AS attempted")
    return rows(db, sql.format(columns=columns) + " GROUP BY h.cell_id", params)


def _by_cell(db, sql, params, state):
    """Per cell of the FROM-WHERE sql: households, and how many of them the SQL state calls 'visited' and
    'attempted'; each household's state is computed once, as a grouping key."""
    cells = {}
    for found in rows(db, sql.format(columns=f"h.cell_id, {state} AS state, count(*) AS n") + " GROUP BY 1, 2",
                      params):
        cell = cells.setdefault(found["cell_id"], {"cell_id": found["cell_id"], "households": 0, "visited": 0,
                                                   "attempted": 0})
        cell["households"] += found["n"]
        if found["state"]:
            cell[found["state"]] += found["n"]
    return list(cells.values())


def _needed(dialect):
    """SQL of the visits a household needs in a past period: rules.required_visits (integer division)."""
    return dialect.greatest("1", f":period_days / {_DAYS}")


def _made(condition, household="h.id"):
    """SQL of how many of the visits in the period of the household whose id is the SQL household, as they stand,
    meet condition: counted by index per household (cheaper than grouping a month of visits)."""
    return (f"(SELECT count(*) FROM visits v {STANDING_JOIN} WHERE v.household_id = {household} "
            f"AND v.visited_at >= :start AND v.visited_at < :end AND {COUNTS} AND {condition})")


_CONTACTS = _made(status.contact_outcome(_DAYS))  # rules.counts_as_contact


def _period(db, clock, period, cell_ids, params, who=""):
    """FROM-WHERE over the occupied households of cell_ids that existed in a past period (added before its end,
    not retired before its start), their cycles from the tags that held on its last day."""
    tz = rules.clock_zone(clock)
    params.update(default_cycle=clock["default_cycle"], start=rules.local_midnight_utc(period["start"], tz),
                  end=rules.local_midnight_utc(period["end"] + timedelta(days=1), tz),
                  period_days=rules.period_days(period["start"], period["end"]), held_on=period["end"].isoformat())
    status.contact_params(clock, params)
    return (f"{_with_cycles(db.dialect, cell_ids, params, held_on=True)} SELECT {{columns}} FROM households h "
            f"{_TAGGED}{who}WHERE h.occupancy = 'occupied' AND h.created_at < :end "
            # retired after the period began, or not at all (as if at its end)
            f"AND coalesce(h.retired_at, :end) > :start AND {cells_clause(cell_ids, params)}")


def period_by_cell(db, clock, period, cell_ids=None):
    """Per cell: households of a past period, how many got the contacts their cycle asks for in it (visited),
    and how many got fewer but were tried (attempted): rules.period_standing."""
    params = {}
    sql = _period(db, clock, period, cell_ids, params)
    # Attempts are counted only where the contacts fell short.
    state = (f"CASE WHEN {_CONTACTS} >= {_needed(db.dialect)} THEN 'visited' "
             f"WHEN {_made(status.attempt_outcome())} > 0 THEN 'attempted' END")
    return _by_cell(db, sql, params, state)


def _household_columns(dialect):
    """A listed household's columns: its cycle, the days of its last visit and of its last contact that counts,
    and the day it fell due."""
    day = dialect.local_day
    return ("h.id, h.cell_id, h.address, h.created_at, h.last_visit_at, lu.display_name AS last_visit_by, "
            f"{_DAYS} AS cycle_days, {day('h.last_visit_at', ':offset')} AS last_visit_day, "
            f"{day(_CONTACT, ':offset')} AS last_contact_day, "
            # rules.due_since: a cycle after the last contact, or since the household was added.
            f"coalesce({day(_CONTACT, ':offset', _DAYS)}, {day('h.created_at', ':offset')}) AS due_since")


def _ranked(db, sql, params, order, limit):
    """Rows of sql in order, the first `limit` of them (None: all), each with the total number of rows."""
    sql = f"SELECT *, count(*) OVER () AS total FROM ({sql}) AS listed ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    return rows(db, sql, params)


def not_visited(db, clock, cell_ids, limit=None):
    """The occupied households of cell_ids not contacted within their current cycle, the most overdue first; each
    says whether it was attempted this cycle (the days of the attempts: status.attempt_days)."""
    params = {"today": clock["today"], "offset": clock["offset"]}
    sql, since, needs = _current(db, clock, cell_ids, params, _WHO)
    columns = f"{_household_columns(db.dialect)}, {status.attempted(since, 'TRUE')} AS attempted"  # all are due
    sql = (f"SELECT *, {db.dialect.days_between(':today', 'due_since')} AS days_overdue FROM ("
           f"{sql.format(columns=columns)} AND {needs}) AS due")
    return _ranked(db, sql, params, "days_overdue DESC, address, id", limit)


def not_visited_in_period(db, clock, period, cell_ids, limit=None):
    """The households of cell_ids that got fewer contacts than their cycle asks for in a past period, with their
    contacts (visits), the contacts needed and their attempts in it."""
    params = {"offset": clock["offset"]}
    columns = (f"{_household_columns(db.dialect)}, {_CONTACTS} AS visits, {_needed(db.dialect)} AS needed, "
               "(SELECT max(v.visited_at) FROM visits v WHERE v.household_id = h.id AND v.visited_at < :end) "
               "AS last_before_end")
    sql = _period(db, clock, period, cell_ids, params, _WHO).format(columns=columns)
    tried = _made(status.attempt_outcome(), "made.id")
    sql = (f"SELECT id, cell_id, address, cycle_days, visits, needed, {tried} AS attempts, "
           f"{db.dialect.local_day('last_before_end', ':offset')} AS last_visit_day, "
           f"NULL AS last_visit_by FROM ({sql}) AS made WHERE visits < needed")
    return _ranked(db, sql, params, "visits - needed, last_visit_day IS NOT NULL, last_visit_day, address, id", limit)


def long_overdue(db, clock, cell_ids, limit=None):
    """Occupied households of cell_ids (None: all) due for longer than one full cycle, the longest first."""
    params = {"today": clock["today"], "offset": clock["offset"]}
    today = date.fromisoformat(clock["today"])
    sql, _since, _needs = _current(db, clock, cell_ids, params, _WHO)
    # rules.long_overdue: last reached before the cycle that ended one cycle ago, or never reached and added
    # more than a cycle ago.
    before = status.by_cycle(db, clock, params, "before", _DAYS,
                             lambda days: rules.cycle_start(today - timedelta(days=days), days))
    added = status.by_cycle(db, clock, params, "added", _DAYS, lambda days: rules.cycle_start(today, days))
    columns = f"{_household_columns(db.dialect)}, c2.code AS cell_code, c2.name AS cell_name"
    sql = sql.format(columns=columns).replace("WHERE h.occupancy", "JOIN cells c2 ON c2.id = h.cell_id WHERE h.occupancy")
    sql = (f"SELECT *, {db.dialect.days_between(':today', 'due_since')} AS days_due FROM ({sql} "
           f"AND ({_CONTACT} < {before} OR ({_CONTACT} IS NULL AND h.created_at < {added}))) AS due")
    return _ranked(db, sql, params, "days_due DESC, address, id", limit)


def unreachable(db, clock, cell_ids, limit=None):
    """The occupied households of cell_ids still due and tried at least the setting's number of times since their
    cycle began (rules.is_unreachable), the most tried first, with their attempts and the day of the last."""
    params = {"offset": clock["offset"]}
    head, from_where, since, needs = _current_parts(db, clock, cell_ids, params)
    # First the households attempted in vain (their own columns), each with the instant its cycle began; then
    # their visits since then, by index.
    tried = (f"tried AS MATERIALIZED (SELECT h.id, h.cell_id, h.address, {_DAYS} AS cycle_days, h.last_attempt_at, "
             f"{since} AS since {from_where} AND {status.attempted(since, needs)})")
    sql = (f"{head}, {tried} SELECT t.id, t.cell_id, t.address, t.cycle_days, "
           f"{db.dialect.local_day('t.last_attempt_at', ':offset')} AS last_attempt_day, count(*) AS attempts "
           f"FROM tried t {db.dialect.ordered_join} visits v ON v.household_id = t.id AND v.visited_at >= t.since "
           f"{STANDING_JOIN} WHERE {COUNTS} AND {status.attempt_outcome()} "
           "GROUP BY t.id, t.cell_id, t.address, t.cycle_days, t.last_attempt_at "
           "HAVING count(*) >= :unreachable_attempts")
    return _ranked(db, sql, params, "attempts DESC, last_attempt_day DESC, address, id", limit)


def visited_since(db, household_ids, since, cell_ids):
    """Which of household_ids (those in cell_ids only) got a visit received since the UTC timestamp since, with
    the latest one."""
    params = {"since": since}
    return rows(db, "SELECT v.household_id AS id, h.address, max(v.visited_at) AS visited_at, "
                    "(SELECT u.display_name FROM visits w JOIN users u ON u.id = w.user_id "
                    " WHERE w.household_id = v.household_id ORDER BY w.visited_at DESC LIMIT 1) AS visited_by "
                    "FROM visits v JOIN households h ON h.id = v.household_id "
                    f"WHERE {cells_clause(household_ids, params, 'v.household_id', 'household')} "
                    f"AND {cells_clause(cell_ids, params, 'h.cell_id', 'scope')} AND v.received_at >= :since GROUP BY v.household_id, h.address ORDER BY max(v.visited_at) DESC", params)


def cells(db, cell_ids):
    """The cells of cell_ids (None: all) with their grid, in grid then cell order."""
    params = {}
    return rows(db, "SELECT c.id, c.code, c.name, c.grid_id, g.code AS grid_code, g.name AS grid_name "
                    "FROM cells c JOIN grids g ON g.id = c.grid_id "
                    f"WHERE {cells_clause(cell_ids, params, 'c.id')} ORDER BY g.code, g.id, c.code, c.id", params)


def holders(db, cell_ids, at):
    """Who held which of cell_ids at the UTC timestamp at: (cell_id, user_id, display_name)."""
    params = {"at": at}
    return rows(db, "SELECT a.cell_id, u.id AS user_id, u.display_name, u.username FROM assignments a "
                    "JOIN users u ON u.id = a.user_id "
                    f"WHERE {cells_clause(cell_ids, params, 'a.cell_id')} AND a.valid_from <= :at "
                    "AND (a.valid_to IS NULL OR a.valid_to > :at) ORDER BY u.display_name, u.id", params)


def member_cells(db, user_id, at):
    """The cells user_id held at the UTC timestamp at."""
    return [r["cell_id"] for r in rows(db, "SELECT DISTINCT cell_id FROM assignments WHERE user_id = ? "
                                           "AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
                                       [user_id, at, at])]


def member(db, user_id):
    """A user's id, name and role, or None."""
    return one(db, "SELECT id, display_name, username, role, grid_id FROM users WHERE id = ?", [user_id])


def visits_per_member(db, user_ids, since_week, since_month):
    """Per user of user_ids: visits since since_week and since_month (UTC timestamps), and the latest visit."""
    params = {"week": since_week, "month": since_month}
    # Index ranges per user (visits_user), not a scan of a month of everyone's visits.
    return {r["id"]: r for r in rows(
        db, "SELECT u.id, (SELECT count(*) FROM visits v WHERE v.user_id = u.id AND v.visited_at >= :week) AS week, "
            "(SELECT count(*) FROM visits v WHERE v.user_id = u.id AND v.visited_at >= :month) AS month, "
            "(SELECT max(v.visited_at) FROM visits v WHERE v.user_id = u.id) AS last_visit_at "
            f"FROM users u WHERE {cells_clause(user_ids, params, 'u.id', 'user')}", params)}


def last_visit_per_member(db, user_ids):
    """Per user of user_ids: the time of their latest visit, or None."""
    params = {}
    # One index seek per user (max over visits_user), not a scan of every visit of the scope.
    found = rows(db, "SELECT u.id, (SELECT max(v.visited_at) FROM visits v WHERE v.user_id = u.id) AS last_visit_at "
                     f"FROM users u WHERE {cells_clause(user_ids, params, 'u.id', 'user')}", params)
    return {r["id"]: r["last_visit_at"] for r in found}

