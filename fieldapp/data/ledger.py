"""The request ledger (群众台账): listing with filters, one request with its history, every change as an
event in one transaction, and the overdue requests behind accountability (问责)."""
import json

from fieldapp import rules
from fieldapp.data import partners
from fieldapp.data import status as status_sql
from fieldapp.data.coverage import cells_clause
from fieldapp.data.db import insert, one, rows, scalar, write
from fieldapp.data.places import CELL, PLACE, PLACE_NAME, place_in


class StaleRequest(Exception):
    """The request changed since the page was loaded (its version moved on): nothing was written."""


# What each action writes to the history.
EVENT_KIND = {"progress": "progress", "resolve": "resolved", "assign": "assigned", "refer": "referred",
              "confirm": "return_visit", "reopen": "return_visit"}


def scope_clause(scope, params):
    """SQL limiting requests q to scope ({"cell_ids": list|None, "user_id": id|None}).

    A member sees the requests of their cells' households, buildings and lanes and those they are responsible for.
    """
    cells = place_in(scope["cell_ids"], params)
    if scope.get("user_id") is None:
        return cells
    params["scope_user"] = scope["user_id"]
    return f"({cells} OR q.responsible_user_id = :scope_user)"


def _filters_clause(filters, params, today):
    """SQL for the list's filters (status, category, cell, responsible, overdue, raised from/to)."""
    where = []
    for key, column in (("status", "q.status"), ("category", "q.category"), ("responsible", "q.responsible_user_id")):
        if filters.get(key) is not None:
            where.append(f"{column} = :f_{key}")
            params[f"f_{key}"] = filters[key]
    if filters.get("cell") is not None:
        where.append(place_in([filters["cell"]], params, "f_cell"))
    if filters.get("overdue"):
        where.append("q.status IN ('open', 'in_progress') AND q.due_date < :today")
    if filters.get("raised_from"):
        where.append("q.created_at >= :raised_from")
        params["raised_from"] = filters["raised_from"]
    if filters.get("raised_to"):
        where.append("q.created_at < :raised_to")
        params["raised_to"] = filters["raised_to"]
    params["today"] = today
    return " AND ".join(where) or "TRUE"


_FROM = (f"FROM requests q {PLACE}JOIN cells c ON c.id = {CELL} "
         "LEFT JOIN users u ON u.id = q.responsible_user_id ")
_COLUMNS = ("q.id, q.category, q.description, q.status, q.due_date, q.referral, q.created_at, q.updated_at, "
            "q.version, q.responsible_user_id, u.display_name AS responsible, q.household_id, q.building_id, "
            f"{PLACE_NAME} AS address, {CELL} AS cell_id, c.name AS cell_name, c.code AS cell_code")


def listing(db, scope, filters, today, limit=50, offset=0):
    """Requests in scope matching filters: unfinished first by due date, then resolved, then closed."""
    params = {"limit": limit, "offset": offset}
    sql = (f"SELECT {_COLUMNS} {_FROM} WHERE {scope_clause(scope, params)} AND {_filters_clause(filters, params, today)} "
           "ORDER BY CASE q.status WHEN 'closed' THEN 2 WHEN 'resolved' THEN 1 ELSE 0 END, q.due_date, q.id "
           "LIMIT :limit OFFSET :offset")
    return rows(db, sql, params)


def counts(db, scope, filters, today):
    """Per status, the requests in scope matching filters other than status; plus how many are overdue."""
    params = {}
    others = {key: value for key, value in filters.items() if key != "status"}
    # No place joined: place_in reads the cells through the indexes alone.
    found = rows(db, f"SELECT q.status, count(*) AS n, "
                     f"count(*) FILTER (WHERE q.status IN ('open', 'in_progress') AND q.due_date < :today) "
                     f"AS overdue FROM requests q WHERE {scope_clause(scope, params)} "
                     f"AND {_filters_clause(others, params, today)} GROUP BY q.status", params)
    result = {status: 0 for status in rules.REQUEST_STATUSES}
    result.update({r["status"]: r["n"] for r in found})
    result["overdue"] = sum(r["overdue"] or 0 for r in found)
    result["all"] = sum(r["n"] for r in found)
    return result


def responsible_people(db, scope):
    """The people responsible for some request in scope, for the list's filter."""
    params = {}
    return rows(db, f"SELECT DISTINCT u.id, u.display_name {_FROM} WHERE {scope_clause(scope, params)} "
                    "AND u.id IS NOT NULL ORDER BY u.display_name, u.id", params)


def get(db, request_id):
    """One request with its place (household, building or cell), grid, responsible person, author (None: the
    resident) and raising visit, or None."""
    found = one(db, f"SELECT q.*, u.display_name AS responsible, {PLACE_NAME} AS address, {CELL} AS place_cell, "
                    "b.name AS building_name, c.name AS cell_name, c.grid_id, a.display_name AS created_by_name, "
                    f"v.visited_at AS visit_at FROM requests q {PLACE}JOIN cells c ON c.id = {CELL} "
                    "LEFT JOIN users u ON u.id = q.responsible_user_id LEFT JOIN users a ON a.id = q.created_by "
                    "LEFT JOIN visits v ON v.id = q.visit_id WHERE q.id = ?", [request_id])
    if found is not None:
        found["cell_id"] = found.pop("place_cell")  # the cell of its place, not the column (set for a cell's only)
    return found


def events(db, request_id):
    """A request's history, oldest first, with who acted (None: the resident) and (for assignments) whom it
    went to."""
    found = rows(db, "SELECT e.*, u.display_name AS who, ru.display_name AS assignee FROM request_events e "
                     "LEFT JOIN users u ON u.id = e.user_id "
                     f"LEFT JOIN users ru ON ru.id = {db.dialect.json_int('e.data', 'responsible_user_id')} "
                     "WHERE e.request_id = ? ORDER BY e.at, e.id", [request_id])
    for event in found:
        event["data"] = json.loads(event["data"] or "{}")
    return found


def _event(db, request_id, user_id, at, kind, from_status, to_status, note, visit_id=None, data=None, uuid=None):
    """Append one event to a request's history."""
    insert(db, "request_events", {
        "request_id": request_id, "user_id": user_id, "at": at, "kind": kind, "from_status": from_status,
        "to_status": to_status, "note": note, "visit_id": visit_id,
        "data": json.dumps(data or {}, ensure_ascii=False), **({"uuid": uuid} if uuid else {})})


def step(db, uuid):
    """The event recorded under a step's client id (its form's), or None."""
    return one(db, "SELECT id, request_id, kind, user_id FROM request_events WHERE uuid = ?", [uuid])


def apply(db, request_id, action, *, user_id, at, version=None, note=None, data=None, visit_id=None,
          household_id=None, uuid=None):
    """Take a ledger action on a request and record it as an event, in one transaction.

    version: the version the page showed (None: don't check, e.g. inside a visit's own transaction).
    data: assign {"responsible_user_id", "due_date"}; refer {"referral"}; confirm/reopen {"channel"}.
    Raises StaleRequest or rules.IllegalTransition (also for another household's request); nothing is
    written then. uuid: the step's client id, kept with its event. Returns the request's new version.
    """
    data = dict(data or {})
    with write(db):
        request = one(db, "SELECT id, status, version, household_id, responsible_user_id, due_date, referral "
                          f"FROM requests WHERE id = ?{db.dialect.for_update}", [request_id])
        if request is None or (household_id is not None and request["household_id"] != household_id):
            raise rules.IllegalTransition("the request is not one of this household's")
        if version is not None and request["version"] != version:
            raise StaleRequest(request_id)
        status = rules.transition(request["status"], action)
        changes = {"status": status, "updated_at": at}
        if action == "resolve":
            changes["resolution"] = note
        elif action == "reopen":
            changes["resolution"] = None  # the old answer stays in the history
        elif action == "assign":
            changes.update(responsible_user_id=data["responsible_user_id"], due_date=data["due_date"])
            data.update(previous_responsible_user_id=request["responsible_user_id"],
                        previous_due_date=request["due_date"])
        elif action == "refer":
            changes["referral"] = data["referral"]
            data["previous_referral"] = request["referral"]
            # The platform sees it: a referral it answers on (an open one elsewhere is withdrawn).
            data["referral_id"] = partners.refer(db, request_id, data["referral"], user_id=user_id, at=at,
                                                 today=rules.local_date(at).isoformat(), due_date=request["due_date"])
        if action in ("confirm", "reopen"):
            data["satisfied"] = action == "confirm"
        db.execute(f"UPDATE requests SET {', '.join(f'{k} = :{k}' for k in changes)}, version = version + 1 "
                   "WHERE id = :id AND version = :version", {**changes, "id": request_id, "version": request["version"]})
        _event(db, request_id, user_id, at, EVENT_KIND[action], request["status"], status, note, visit_id, data,
               uuid)
        return request["version"] + 1


# A request that still waits for someone to act on it (or for its return visit).
UNFINISHED = ("open", "in_progress", "resolved")


def hand_over(db, cell_id, from_user_id, to_user_id, *, user_id, at):
    """Pass the unfinished requests of cell_id (its households', buildings' and its own) that from_user_id answers
    for to to_user_id, each with an "assigned" event (due dates stay); in the caller's transaction if there is one.
    Returns how many."""
    params = {"from_user": from_user_id, **{f"s{i}": status for i, status in enumerate(UNFINISHED)}}
    with write(db):
        passing = rows(db, "SELECT q.id, q.status, q.version, q.due_date FROM requests q "
                           f"WHERE {place_in([cell_id], params)} AND q.responsible_user_id = :from_user "
                           "AND q.status IN (:s0, :s1, :s2) ORDER BY q.id", params)
        for request in passing:
            db.execute("UPDATE requests SET responsible_user_id = ?, updated_at = ?, version = version + 1 "
                       "WHERE id = ?", [to_user_id, at, request["id"]])
            _event(db, request["id"], user_id, at, "assigned", request["status"], request["status"], None,
                   data={"responsible_user_id": to_user_id, "due_date": request["due_date"],
                         "previous_responsible_user_id": from_user_id, "previous_due_date": request["due_date"],
                         "handed_over_with_cell": cell_id})
        return len(passing)


def create(db, *, uuid, household_id, category, description, responsible_user_id, due_date, user_id, at,
           channel=None, building_id=None):
    """Enter a request directly (e.g. from a phone call) with its first event; a resent form adds nothing. It
    belongs to household_id, or (household_id None) to building_id.

    Returns (created: bool, request id).
    """
    with write(db):
        request_id = insert(db, "requests", {
            "uuid": uuid, "household_id": household_id, "building_id": None if household_id else building_id,
            "visit_id": None, "category": category,
            "description": description, "status": "open", "responsible_user_id": responsible_user_id,
            "due_date": due_date, "channel": channel or "other", "created_by": user_id, "created_at": at,
            "updated_at": at}, unless="uuid")
        if request_id is None:  # a resend, maybe at the same moment on another connection (see visits.record)
            return False, scalar(db, "SELECT id FROM requests WHERE uuid = ?", [uuid])
        _event(db, request_id, user_id, at, "created", None, "open", description,
               data={"channel": channel, "responsible_user_id": responsible_user_id, "due_date": due_date})
    return True, request_id


def awaiting_return_visit(db, scope):
    """Resolved requests in scope waiting for the resident's answer, the longest waiting first."""
    params = {}
    return rows(db, f"SELECT {_COLUMNS}, q.resolution, "
                    "(SELECT max(e.at) FROM request_events e WHERE e.request_id = q.id AND e.kind = 'resolved') "
                    f"AS resolved_at {_FROM} WHERE q.status = 'resolved' AND {scope_clause(scope, params)} "
                    "ORDER BY resolved_at, q.id", params)


def households_awaiting_return_visit(db, cell_ids=None, user_id=None):
    """{household id: number of its resolved requests awaiting a return visit} for cell_ids or user_id."""
    params = {}
    where = [place_in(cell_ids, params)]
    if user_id is not None:
        where.append("q.responsible_user_id = :user_id")
        params["user_id"] = user_id
    found = rows(db, f"SELECT q.household_id, count(*) AS n FROM requests q {PLACE}"
                     f"WHERE q.status = 'resolved' AND q.household_id IS NOT NULL AND {' AND '.join(where)} "
                     "GROUP BY q.household_id", params)
    return {r["household_id"]: r["n"] for r in found}


def overdue(db, cell_ids, today):
    """Open and in-progress requests of cell_ids past their due date, with responsible person and cell."""
    params = {"today": today}
    return rows(db, f"SELECT {_COLUMNS} {_FROM} WHERE q.status IN ('open', 'in_progress') AND q.due_date < :today "
                    f"AND {place_in(cell_ids, params)} ORDER BY q.due_date, q.id", params)


def overdue_groups(db, cell_ids, today, by):
    """Overdue requests of cell_ids per responsible person (by="person") or per cell (by="cell"): how many,
    the most days late and the days late in all; the most overdue first."""
    key, name, join = {"person": ("q.responsible_user_id", "u.display_name", "LEFT JOIN users u ON u.id = q.responsible_user_id "),
                       "cell": (CELL, "c.name", f"JOIN cells c ON c.id = {CELL} ")}[by]
    params = {"today": today}
    late = db.dialect.days_between(":today", "q.due_date")
    return rows(db, f"SELECT {key} AS id, {name} AS name, count(*) AS requests, max({late}) AS most_late, "
                    f"sum({late}) AS days_late FROM requests q {PLACE}{join}"
                    f"WHERE q.status IN ('open', 'in_progress') AND q.due_date < :today "
                    f"AND {place_in(cell_ids, params)} GROUP BY {key}, {name} "
                    "ORDER BY requests DESC, most_late DESC, name", params)


def status_counts(db, cell_ids, today):
    """Requests of cell_ids per status, plus the overdue ones (for the dashboard)."""
    return counts(db, {"cell_ids": cell_ids, "user_id": None}, {}, today)


def candidates(db, grid_id, at):
    """Who may be made responsible for a request in grid_id: its members at `at` and its leaders."""
    return rows(db, f"SELECT u.id, u.display_name, u.role, {db.dialect.joined('a.cell_id', distinct=True)} AS cells "
                    "FROM users u "
                    "LEFT JOIN assignments a ON a.user_id = u.id AND a.valid_from <= :at "
                    "AND (a.valid_to IS NULL OR a.valid_to > :at) "
                    "AND a.cell_id IN (SELECT id FROM cells WHERE grid_id = :grid) "
                    "WHERE u.active = 1 AND ((u.role = 'leader' AND u.grid_id = :grid) OR a.id IS NOT NULL) "
                    "GROUP BY u.id, u.display_name, u.role ORDER BY u.role = 'leader', u.display_name, u.id", {"grid": grid_id, "at": at})


def find_households(db, cell_ids, search, limit=20):
    """Households of cell_ids whose address or a resident's name contains search, for a new request."""
    params = {"search": search, "limit": limit}
    return rows(db, "SELECT h.id, h.address, c.name AS cell_name FROM households h JOIN cells c ON c.id = h.cell_id "
                    f"WHERE {cells_clause(cell_ids, params)} AND {status_sql.IN_REGISTER} "
                    f"AND ({db.dialect.contains('h.address', ':search')} OR EXISTS ("
                    "SELECT 1 FROM residents r WHERE r.household_id = h.id AND r.moved_out_at IS NULL "
                    f"AND {db.dialect.contains('r.name', ':search')})) ORDER BY h.address LIMIT :limit", params)
