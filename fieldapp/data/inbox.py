"""What the member's inbox reads beyond their list of households: requests due soon, assignments begun or ended
lately, and when the member last signed in before this session (one query each, never one per household)."""
from fieldapp.data.db import in_clause, rows, scalar

# A request's place: its household, its building, or its cell.
_PLACE = ("LEFT JOIN households h ON h.id = q.household_id "
          "LEFT JOIN buildings b ON b.id = q.building_id LEFT JOIN cells c ON c.id = q.cell_id ")


def requests_due(db, household_ids, cell_ids, user_id, until):
    """The open and in-progress requests of household_ids (those of the list with open requests), of the buildings
    and cells of cell_ids, or that user_id answers for, due on or before the local day until (overdue ones
    included), the earliest due first: id, category, due_date, status, place."""
    params = {"until": until, "user": user_id}
    # From the households with open requests, the member's buildings and cells into the requests' indexes, and
    # from the few found to the requests (in that order: left to itself SQLite walked every open request).
    unfinished = "status IN ('open', 'in_progress')"
    join = db.dialect.ordered_join
    found = (f"SELECT q1.id FROM requests q1 WHERE q1.{unfinished} AND "
             f"{in_clause('q1.household_id', household_ids, params, 'h')} "
             f"UNION SELECT q2.id FROM buildings b2 {join} requests q2 ON q2.building_id = b2.id AND q2.{unfinished} "
             f"WHERE {in_clause('b2.cell_id', cell_ids, params, 'bc')} "
             f"UNION SELECT q3.id FROM requests q3 WHERE q3.{unfinished} AND "
             f"{in_clause('q3.cell_id', cell_ids, params, 'cc')} "
             f"UNION SELECT q4.id FROM requests q4 WHERE q4.{unfinished} AND q4.responsible_user_id = :user")
    return rows(db, "SELECT q.id, q.category, q.due_date, q.status, coalesce(h.address, b.name, c.name) AS place "
                    f"FROM ({found}) AS found {join} requests q ON q.id = found.id {_PLACE}"
                    f"WHERE q.{unfinished} AND q.due_date <= :until ORDER BY q.due_date, q.id", params)


def assignment_changes(db, user_id, since, now):
    """user_id's assignments begun or ended between the UTC timestamps since and now: cell name, valid_from,
    valid_to, and whether it ended (ended: 1)."""
    return rows(db, "SELECT a.id, c.name AS cell_name, a.valid_from, a.valid_to, "
                    "CASE WHEN a.valid_to IS NOT NULL AND a.valid_to <= :now THEN 1 ELSE 0 END AS ended "
                    "FROM assignments a JOIN cells c ON c.id = a.cell_id WHERE a.user_id = :user "
                    "AND ((a.valid_from >= :since AND a.valid_from <= :now) "
                    "OR (a.valid_to >= :since AND a.valid_to <= :now)) "
                    "ORDER BY coalesce(a.valid_to, a.valid_from) DESC, a.id",
                {"user": user_id, "since": since, "now": now})


def previous_sign_in(db, username, before):
    """When username last signed in before the UTC timestamp before, or None (sign-ins are kept for weeks)."""
    return scalar(db, "SELECT max(at) FROM login_attempts WHERE username = ? AND success = 1 AND at < ?",
                  [username.lower(), before])
