"""What the map needs: household status counts per building and per cell in one pass, cells, filter options."""
import os
import threading

from sqlite_utils.utils import sqlite3

from fieldapp import rules
from fieldapp.data import status
from fieldapp.data.db import in_clause, one, rows, scalar
from fieldapp.data.dialect import SQLITE

# Each household's status rank (index into rules.STATUSES, most urgent first), whether it needs a visit and
# whether it was attempted this cycle, as data/status.py builds them: joins on grouped requests and tag cycles,
# "reached since the cycle began" compared as stored UTC text (100,000 households in about 0.2 s of CPU).
# Retired households are not on the map.
# test_map_statuses_agree_with_with_status holds the map and households.with_status together.
_FROM = ("FROM households h LEFT JOIN cycles c ON c.household_id = h.id "
         "LEFT JOIN request_counts q ON q.household_id = h.id ")

# Resident tags, as the household list filters them (households.with_status(tag=...)).
_TAGGED = """(SELECT r.household_id FROM residents r JOIN resident_tags rt ON rt.resident_id = r.id
  JOIN tags t ON t.id = rt.tag_id WHERE t.code = :tag AND r.moved_out_at IS NULL AND rt.ended_on IS NULL)"""


def _status_sql(db, clock, cell_ids, params):
    """(WITH clause, SQL of a household h's rank, SQL of whether it needs a visit, SQL of whether it was attempted
    this cycle) for households of cell_ids."""
    params.update(clock)
    status.contact_params(clock, params)
    days = status.cycle_days("c")
    began = status.cycle_began(db, clock, params, days)
    needs = status.needs_visit(began, status.last_contact(days))
    rank = status.status(overdue="q.overdue_requests", open_requests="q.open_requests", occupancy="h.occupancy",
                         due=needs, ranked=True)
    # A grid's households by index, rather than every tagged resident and open request of the district.
    scope = None if cell_ids is None else in_clause("h.cell_id", cell_ids, params, "scope")
    return status.with_clause(db.dialect, scope, requests=True), rank, needs, status.attempted(began, needs)



def _match(filters, params, rank, needs):
    """The SQL condition on household h for the map's filters (all optional), adding its parameters."""
    conditions = [in_clause("h.cell_id", filters.get("cell_ids"), params, "only")]
    if filters.get("status"):
        conditions.append(f"{rank} = :rank")
        params["rank"] = rules.URGENCY[filters["status"]]
    if filters.get("not_visited"):
        conditions.append(f"({needs} AND h.occupancy = 'occupied')")
    if filters.get("open_requests"):
        conditions.append("q.open_requests > 0")
    if filters.get("tag"):
        conditions.append(f"h.id IN {_TAGGED}")
        params["tag"] = filters["tag"]
    return " AND ".join(conditions)


def point_groups(db, clock, cell_ids=None, filters=None):
    """Households per building (or standalone house) and cell: how many of those matching filters have
    each status (counts, most urgent first), and occupied/visited counts of all of them (coverage).

    cell_ids: the user's scope (None: all). filters: cell_ids, status, not_visited, open_requests, tag.
    clock: today, offset and default_cycle as fieldapp.clock.clock gives them.
    Rows: cell_id, building_id, house_id (standalone houses), lon, lat, counts, occupied, visited (contacted in
    their cycle), attempted (tried in their cycle, not reached).
    """
    params = {}
    head, rank, needs, attempted = _status_sql(db, clock, cell_ids, params)
    match = _match(filters or {}, params, rank, needs)
    # Grouped by place and by state: each household's state is computed once, as a grouping key.
    found = db.execute(head + f"""
SELECT g.*, coalesce(b.lon, g.own_lon), coalesce(b.lat, g.own_lat) FROM (
  SELECT h.cell_id, h.building_id, CASE WHEN h.building_id IS NULL THEN h.id END AS house_id,
    {rank} AS rank, {needs} AS needs_visit, {attempted} AS attempted, h.occupancy = 'occupied' AS occupied,
    {match} AS hit, count(*) AS households, min(h.lon) AS own_lon, min(h.lat) AS own_lat
  {_FROM} WHERE {in_clause("h.cell_id", cell_ids, params, "cell")} AND {status.IN_REGISTER}
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
) g LEFT JOIN buildings b ON b.id = g.building_id""", params)
    groups = {}
    for cell_id, building_id, house_id, rank, needs_visit, tried, occupied, hit, count, _lon, _lat, lon, lat in found:
        group = groups.get((cell_id, building_id, house_id))
        if group is None:
            group = groups[(cell_id, building_id, house_id)] = {
                "cell_id": cell_id, "building_id": building_id, "house_id": house_id, "lon": lon, "lat": lat,
                "counts": [0] * len(rules.STATUSES), "occupied": 0, "visited": 0, "attempted": 0}
        if hit:
            group["counts"][rank] += count
        if occupied:
            group["occupied"] += count
            group["visited"] += 0 if needs_visit else count
            group["attempted"] += count if tried else 0
    return list(groups.values())


def household_statuses(db, clock, cell_ids=None):
    """Each household's status by id, by the map's rule (for checks against households.with_status)."""
    params = {}
    head, rank, _needs, _attempted = _status_sql(db, clock, cell_ids, params)
    sql = (head + f"SELECT h.id, {rank} AS rank {_FROM} WHERE {in_clause('h.cell_id', cell_ids, params, 'cell')} "
           f"AND {status.IN_REGISTER}")
    return {r["id"]: rules.STATUSES[r["rank"]] for r in rows(db, sql, params)}


def cells_in(db, cell_ids=None, outline=True):
    """The cells of cell_ids (None: all) by code, with their outline (GeoJSON text) if asked."""
    params = {}
    clause = in_clause("c.id", cell_ids, params, "cell")
    geometry = ", c.geometry" if outline else ""
    return rows(db, f"SELECT c.id, c.code, c.name, c.grid_id{geometry} FROM cells c WHERE {clause} "
                    f"ORDER BY c.code", params)


def bounds(db, cell_ids=None):
    """The bounding box of the cells of cell_ids (None: all): min_lon, min_lat, max_lon, max_lat or None."""
    params = {}
    clause = in_clause("id", cell_ids, params, "cell")
    box = one(db, f"SELECT min(min_lon) AS min_lon, min(min_lat) AS min_lat, max(max_lon) AS max_lon, "
                  f"max(max_lat) AS max_lat FROM cells WHERE {clause}", params)
    return box if box and box["min_lon"] is not None else None


def members_in(db, cell_ids, at):
    """The users responsible at UTC timestamp at for cells of cell_ids (None: all), with their cell ids."""
    params = {"at": at}
    clause = in_clause("a.cell_id", cell_ids, params, "cell")
    found = rows(db, f"SELECT u.id, u.display_name, {db.dialect.joined('a.cell_id', distinct=True)} AS cells "
                     f"FROM assignments a JOIN users u ON u.id = a.user_id WHERE {clause} AND a.valid_from <= :at "
                     f"AND (a.valid_to IS NULL OR a.valid_to > :at) GROUP BY u.id, u.display_name "
                     f"ORDER BY u.display_name",
                 params)
    for member in found:
        member["cells"] = [int(cell_id) for cell_id in member["cells"].split(",")]
    return found


def tags(db):
    """Every resident tag, for the tag filter."""
    return rows(db, "SELECT code, label FROM tags ORDER BY id")


def building(db, building_id):
    """One building with its cell, or None."""
    return one(db, "SELECT b.id, b.name, b.kind, b.cell_id, c.name AS cell_name FROM buildings b "
                   "JOIN cells c ON c.id = b.cell_id WHERE b.id = ?", [building_id])


# SQLite: one watching connection per database file and process; PRAGMA data_version changes when any other
# connection commits. PostgreSQL: the change counter that triggers move with every commit to what a map shows
# (migration 0009), the same for every app server. A cached map is served until the data actually changes.
_watchers = {}
_watch_lock = threading.Lock()


def data_version(db, target):
    """A value that changes whenever something is committed to the database target (db: a connection to it)."""
    if db.dialect is not SQLITE:
        return scalar(db, "SELECT sum(n) FROM data_changes")
    path = target
    key = (os.getpid(), path)
    with _watch_lock:
        conn = _watchers.get(key)
        if conn is None:
            if len(_watchers) >= 8:  # test suites open many databases: keep a few watchers only
                _watchers.pop(next(iter(_watchers))).close()
            conn = _watchers[key] = sqlite3.connect(path, check_same_thread=False)
        return conn.execute("PRAGMA data_version").fetchone()[0]
