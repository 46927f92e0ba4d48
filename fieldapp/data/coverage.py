"""Visit coverage as aggregates: per cell in the current cycle or a past period, who holds which cell,
which households are not visited, and how busy each member has been.

The current cycle reads households.last_visit_at only (no scan of visits): a household with a cycle of
N days is covered when its last visit began on or after local midnight N - 1 days ago, the same rule
as households.with_status (tests hold them together), both built by data/status.py: the shortest of the
default cycle and the cycles of the household's and its residents' tags.
"""
from datetime import date, timedelta

from fieldapp import rules
from fieldapp.data import status
from fieldapp.data.db import in_clause, one, rows


def cells_clause(cell_ids, params, column="h.cell_id", name="cell"):
    """SQL restricting column to cell_ids (None: every cell), adding its parameters (name0, ...) to params."""
    return in_clause(column, cell_ids, params, name)


_TAGGED = "LEFT JOIN cycles c ON c.household_id = h.id "
# A household's cycle in days: the shortest of its tags' cycles, never longer than the default.
_DAYS = status.cycle_days("c")


def _with_cycles(dialect, cell_ids, params):
    """The WITH clause of CTE cycles (data/status.py) for the households of cell_ids (None: all)."""
    return status.with_clause(dialect, None if cell_ids is None else cells_clause(cell_ids, params, name="scope"))


_WHO = "LEFT JOIN users lu ON lu.id = h.last_visit_user_id "


def _current(db, clock, cell_ids, params, who=""):
    """(FROM-WHERE over occupied households of cell_ids, SQL of the instant since which a visit covers one)."""
    params["default_cycle"] = clock["default_cycle"]
    since = status.cycle_began(db, clock, params, _DAYS)
    sql = (f"{_with_cycles(db.dialect, cell_ids, params)} SELECT {{columns}} FROM households h {_TAGGED}"
           f"{who}WHERE h.occupancy = 'occupied' AND {cells_clause(cell_ids, params)}")
    return sql, since


def current_by_cell(db, clock, cell_ids=None):
    """Per cell: occupied households and how many were visited within their current cycle."""
    params = {}
    sql, since = _current(db, clock, cell_ids, params)
    columns = f"h.cell_id, count(*) AS households, count(*) FILTER (WHERE h.last_visit_at >= {since}) AS visited"
    return rows(db, sql.format(columns=columns) + " GROUP BY h.cell_id", params)




def _needed(dialect):
    """SQL of the visits a household needs in a past period: rules.required_visits (integer division)."""
    return dialect.greatest("1", f":period_days / {_DAYS}")


# Its visits in the period, counted by index per household (cheaper than grouping a month of visits).
_MADE = ("(SELECT count(*) FROM visits v WHERE v.household_id = h.id "
         "AND v.visited_at >= :start AND v.visited_at < :end)")


def _period(db, clock, period, cell_ids, params, who=""):
    """FROM-WHERE over the occupied households of cell_ids that existed in a past period."""
    tz = rules.clock_zone(clock)
    params.update(default_cycle=clock["default_cycle"], start=rules.local_midnight_utc(period["start"], tz),
                  end=rules.local_midnight_utc(period["end"] + timedelta(days=1), tz),
                  period_days=rules.period_days(period["start"], period["end"]))
    return (f"{_with_cycles(db.dialect, cell_ids, params)} SELECT {{columns}} FROM households h {_TAGGED}"
            f"{who}WHERE h.occupancy = 'occupied' AND h.created_at < :end AND {cells_clause(cell_ids, params)}")


def period_by_cell(db, clock, period, cell_ids=None):
    """Per cell: households of a past period and how many got the visits their cycle asks for in it."""
    params = {}
    columns = (f"h.cell_id, count(*) AS households, "
               f"count(*) FILTER (WHERE {_MADE} >= {_needed(db.dialect)}) AS visited")
    return rows(db, _period(db, clock, period, cell_ids, params).format(columns=columns) + " GROUP BY h.cell_id",
                params)


def _household_columns(dialect):
    """A listed household's columns: its cycle, the day of its last visit and the day it fell due."""
    day = dialect.local_day
    return ("h.id, h.cell_id, h.address, h.created_at, h.last_visit_at, lu.display_name AS last_visit_by, "
            f"{_DAYS} AS cycle_days, {day('h.last_visit_at', ':offset')} AS last_visit_day, "
            # rules.due_since: a cycle after the last visit, or since the household was added.
            f"coalesce({day('h.last_visit_at', ':offset', _DAYS)}, {day('h.created_at', ':offset')}) AS due_since")


def _ranked(db, sql, params, order, limit):
    """Rows of sql in order, the first `limit` of them (None: all), each with the total number of rows."""
    sql = f"SELECT *, count(*) OVER () AS total FROM ({sql}) AS listed ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    return rows(db, sql, params)


def not_visited(db, clock, cell_ids, limit=None):
    """The occupied households of cell_ids not visited within their current cycle, the most overdue first."""
    params = {"today": clock["today"], "offset": clock["offset"]}
    sql, since = _current(db, clock, cell_ids, params, _WHO)
    sql = (f"SELECT *, {db.dialect.days_between(':today', 'due_since')} AS days_overdue FROM ("
           f"{sql.format(columns=_household_columns(db.dialect))} AND {status.needs_visit(since)}) AS due")
    return _ranked(db, sql, params, "days_overdue DESC, address, id", limit)


def not_visited_in_period(db, clock, period, cell_ids, limit=None):
    """The households of cell_ids that got fewer visits than their cycle asks for in a past period."""
    params = {"offset": clock["offset"]}
    columns = (f"{_household_columns(db.dialect)}, {_MADE} AS visits, {_needed(db.dialect)} AS needed, "
               "(SELECT max(v.visited_at) FROM visits v WHERE v.household_id = h.id AND v.visited_at < :end) "
               "AS last_before_end")
    sql = _period(db, clock, period, cell_ids, params, _WHO).format(columns=columns)
    sql = (f"SELECT id, cell_id, address, cycle_days, visits, needed, "
           f"{db.dialect.local_day('last_before_end', ':offset')} AS last_visit_day, "
           f"NULL AS last_visit_by FROM ({sql}) AS made WHERE visits < needed")
    return _ranked(db, sql, params, "visits - needed, last_visit_day IS NOT NULL, last_visit_day, address, id", limit)


def long_overdue(db, clock, cell_ids, limit=None):
    """Occupied households of cell_ids (None: all) due for longer than one full cycle, the longest first."""
    params = {"today": clock["today"], "offset": clock["offset"]}
    today = date.fromisoformat(clock["today"])
    sql, _since = _current(db, clock, cell_ids, params, _WHO)
    # rules.long_overdue: visited before the cycle that ended one cycle ago, or never visited and added
    # more than a cycle ago.
    before = status.by_cycle(db, clock, params, "before", _DAYS,
                             lambda days: rules.cycle_start(today - timedelta(days=days), days))
    added = status.by_cycle(db, clock, params, "added", _DAYS, lambda days: rules.cycle_start(today, days))
    columns = f"{_household_columns(db.dialect)}, c2.code AS cell_code, c2.name AS cell_name"
    sql = sql.format(columns=columns).replace("WHERE h.occupancy", "JOIN cells c2 ON c2.id = h.cell_id WHERE h.occupancy")
    sql = (f"SELECT *, {db.dialect.days_between(':today', 'due_since')} AS days_due FROM ({sql} "
           f"AND (h.last_visit_at < {before} OR (h.last_visit_at IS NULL AND h.created_at < {added}))) AS due")
    return _ranked(db, sql, params, "days_due DESC, address, id", limit)


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

