"""Households with their status, residents and what a member needs to choose the next door."""
from fieldapp.data import status as status_sql
from fieldapp.data.db import in_clause, one, rows, scalar

# Each household in scope with its request counts and cycle (data/status.py), the last contact that counts for
# that cycle, then whether it is due, whether it was attempted in vain this cycle, and its status.
_STATUS_QUERY = """
{with_clause}, base AS (
  SELECT h.id, h.cell_id, h.building_id, h.unit, h.room, h.address, h.occupancy, h.external_id,
    COALESCE(h.lon, b.lon) AS lon, COALESCE(h.lat, b.lat) AS lat,
    b.name AS building_name, b.kind AS building_kind,
    h.last_visit_at, h.last_visit_user_id, lu.display_name AS last_visit_by,
    {last_visit_day} AS last_visit_day, h.last_attempt_at, {last_attempt_day} AS last_attempt_day,
    coalesce(rq.open_requests, 0) AS open_requests, coalesce(rq.overdue_requests, 0) AS overdue_requests,
    coalesce(rq.return_visits, 0) AS return_visits, {cycle_days} AS cycle_days, c.codes AS cycle_tags,
    {last_contact} AS last_contact_at
  FROM households h
  LEFT JOIN buildings b ON b.id = h.building_id
  LEFT JOIN users lu ON lu.id = h.last_visit_user_id
  LEFT JOIN request_counts rq ON rq.household_id = h.id
  LEFT JOIN cycles c ON c.household_id = h.id
  WHERE {where}
), due AS (
  SELECT *, {last_contact_day} AS last_contact_day, {needs_visit} AS needs_visit FROM base
)
SELECT *, {attempted} AS attempted, {status} AS status FROM due
"""


def _cells_clause(cell_ids, params):
    """SQL restricting households h to cell_ids (None: every cell), adding its parameters."""
    return in_clause("h.cell_id", cell_ids, params, "cell")


def _where(dialect, params, cell_ids=None, household_id=None, building_id=None, tag=None, search=None):
    """The WHERE clause over households h for these filters, adding its parameters to params."""
    where = [_cells_clause(cell_ids, params)]
    if household_id is not None:  # one household's page shows it even when retired, with its history
        where.append("h.id = :household_id")
        params["household_id"] = household_id
    else:  # a retired household (demolished, merged) is kept, and leaves every list
        where.append(status_sql.IN_REGISTER)
    if building_id is not None:
        where.append("h.building_id = :building_id")
        params["building_id"] = building_id
    if tag:
        # From the household's few residents to their tags. Left to itself SQLite went from the tag to its
        # thousands of residents for every household: 2.3 s for a member's 300 households.
        join = dialect.ordered_join
        where.append(f"EXISTS (SELECT 1 FROM residents r {join} resident_tags rt ON rt.resident_id = r.id "
                     f"{join} tags t ON t.id = rt.tag_id WHERE r.household_id = h.id AND t.code = :tag "
                     "AND r.moved_out_at IS NULL AND rt.ended_on IS NULL)")
        params["tag"] = tag
    if search:
        # Not LIKE: a substring of a 2-3 character Chinese name, and no wildcards to escape.
        where.append(f"({dialect.contains('h.address', ':search')} OR EXISTS (SELECT 1 FROM residents r "
                     f"WHERE r.household_id = h.id AND {dialect.contains('r.name', ':search')}))")
        params["search"] = search
    return " AND ".join(where)


def with_status(db, clock, *, status=None, **filters):
    """Households matching filters (see _where; cell_ids None: all), each with status, cycle, requests, the last
    contact that counts (last_contact_at, last_contact_day), the last attempt and whether it was attempted this
    cycle without contact (attempted).

    clock is a dict: today (YYYY-MM-DD), offset (SQLite modifier for the local time zone, e.g.
    '+480 minutes'), default_cycle (days) and the contact settings (status_sql.contact_params).
    """
    params = status_sql.contact_params(clock, dict(clock))
    where = _where(db.dialect, params, **filters)
    began = status_sql.cycle_began(db, clock, params, "cycle_days")
    day = db.dialect.local_day
    sql = _STATUS_QUERY.format(
        with_clause=status_sql.with_clause(db.dialect, where, requests=True, codes=True), where=where,
        last_visit_day=day("h.last_visit_at", ":offset"), last_attempt_day=day("h.last_attempt_at", ":offset"),
        cycle_days=status_sql.cycle_days("c"), last_contact=status_sql.last_contact(status_sql.cycle_days("c")),
        last_contact_day=day("last_contact_at", ":offset"),
        needs_visit=status_sql.needs_visit(began, "last_contact_at"),
        attempted=status_sql.attempted(began, "needs_visit", "last_attempt_at"),
        status=status_sql.status(overdue="overdue_requests", open_requests="open_requests", occupancy="occupancy",
                                 due="needs_visit"))
    if status:
        sql = f"SELECT * FROM ({sql}) AS households WHERE status = :status"
        params["status"] = status
    return rows(db, sql, params)


def with_attempt_days(db, clock, households):
    """Give each of households (with_status rows) the days of its attempts this cycle (attempt_days: ISO days,
    oldest first; empty unless attempted), with one query for all of them; returns households."""
    found = status_sql.attempt_days(db, clock, households)
    for household in households:
        household["attempt_days"] = found.get(household["id"], [])
    return households


def matching_ids(db, **filters):
    """Ids of the households matching filters (see _where), without the cost of their status."""
    params = {}
    return {r["id"] for r in rows(db, f"SELECT h.id FROM households h WHERE {_where(db.dialect, params, **filters)}", params)}


def count(db):
    """How many households the database holds."""
    return scalar(db, "SELECT count(*) FROM households")


def get(db, household_id):
    """The household row with its point (own or its building's) and its cell, or None."""
    return one(
        db,
        "SELECT h.*, COALESCE(h.lon, b.lon) AS point_lon, COALESCE(h.lat, b.lat) AS point_lat, "
        "b.name AS building_name, c.name AS cell_name, c.code AS cell_code "
        "FROM households h LEFT JOIN buildings b ON b.id = h.building_id JOIN cells c ON c.id = h.cell_id "
        "WHERE h.id = ?",
        [household_id],
    )


def residents(db, household_id):
    """The household's current residents with their tag codes (comma-separated)."""
    return rows(
        db,
        "SELECT r.id, r.name, r.phone, r.gender, r.birth_year, "
        f"(SELECT {db.dialect.joined('t.code', order='t.id')} FROM resident_tags rt JOIN tags t ON t.id = rt.tag_id "
        " WHERE rt.resident_id = r.id AND rt.ended_on IS NULL) AS tags "
        "FROM residents r WHERE r.household_id = ? AND r.moved_out_at IS NULL ORDER BY r.id",
        [household_id],
    )


def resident(db, resident_id):
    """One resident with its household id, or None."""
    return one(db, "SELECT id, household_id, name, phone FROM residents WHERE id = ?", [resident_id])


def buildings_in(db, cell_ids):
    """The buildings of cell_ids (None: all), for a filter."""
    params = {}
    clause = _cells_clause(cell_ids, params).replace("h.cell_id", "cell_id")
    return rows(db, f"SELECT id, name, cell_id FROM buildings WHERE {clause} ORDER BY cell_id, name", params)


def cycle_tags(db):
    """The tags that shorten a household's cycle, shortest first."""
    return rows(db, "SELECT code, label, cycle_days FROM tags WHERE cycle_days IS NOT NULL ORDER BY cycle_days, code")


def default_cycle_days(db):
    """The default visit cycle in days (settings)."""
    return int(scalar(db, "SELECT value FROM settings WHERE key = 'default_cycle_days'") or 30)


def ids_in_cells(db, cell_ids):
    """Ids of the households of cell_ids that stand (not retired), in id order."""
    params = {}
    return [r["id"] for r in rows(db, f"SELECT h.id FROM households h WHERE {_cells_clause(cell_ids, params)} "
                                      f"AND {status_sql.IN_REGISTER} ORDER BY h.id", params)]


def ids_among(db, household_ids, cell_ids):
    """Those of household_ids that exist and lie in cell_ids (None: anywhere), in the order given."""
    wanted = [i for i in household_ids if 0 < i < 2**63]
    if not wanted:
        return []
    params = {}
    found = {r["id"] for r in rows(db, f"SELECT h.id FROM households h WHERE {in_clause('h.id', wanted, params, 'h')} "
                                       f"AND {_cells_clause(cell_ids, params)}", params)}
    return [i for i in wanted if i in found]
