"""What the app holds about people: the audit log's search, one resident's record, and anonymisation."""
import json

from fieldapp.data import photos as photo_data
from fieldapp.data.db import one, rows, scalar, write

DEFAULT_RETENTION_DAYS = 365
ANONYMOUS = "—"  # the name an anonymised resident keeps (the column is NOT NULL)

# When a moved-out household moved out: its first "moved out" visit after the last one that found people.
_MOVED_OUT_SINCE = """
(SELECT min(v.visited_at) FROM visits v WHERE v.household_id = h.id AND v.outcome = 'moved_out'
   AND v.visited_at > coalesce((SELECT max(w.visited_at) FROM visits w
                                WHERE w.household_id = h.id AND w.outcome IN ('met', 'declined')), ''))
"""


def audit_search(db, *, user_id=None, action=None, target_type=None, target_id=None, since=None, until=None,
                 ip=None, before=None, limit=50):
    """Audit entries matching every given filter, newest first, with the person's name; `before` pages by id."""
    where, params = ["TRUE"], {"limit": limit}
    for column, value in (("a.user_id", user_id), ("a.action", action), ("a.target_type", target_type),
                          ("a.target_id", target_id), ("a.ip", ip)):
        if value is not None:
            name = column.split(".")[1]
            where.append(f"{column} = :{name}")
            params[name] = value
    if since:
        where.append("a.at >= :since")
        params["since"] = since
    if until:
        where.append("a.at < :until")
        params["until"] = until
    if before:
        where.append("a.id < :before")
        params["before"] = before
    return rows(db, f"SELECT a.*, u.username, u.display_name FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
                    f"WHERE {' AND '.join(where)} ORDER BY a.id DESC LIMIT :limit", params)


def audit_actions(db):
    """The actions the audit log holds, for the search's choice."""
    return [r["action"] for r in rows(db, "SELECT DISTINCT action FROM audit_log ORDER BY action")]


def residents_matching(db, search, limit=50):
    """Residents whose name or phone contains search, with their household's address."""
    contains = db.dialect.contains
    return rows(db, "SELECT r.id, r.name, r.phone, r.anonymised_at, h.id AS household_id, h.address "
                    "FROM residents r JOIN households h ON h.id = r.household_id "
                    f"WHERE {contains('r.name', ':q')} OR {contains('r.phone', ':q')} "
                    "ORDER BY r.name, r.id LIMIT :limit",
                {"q": search, "limit": limit})


def resident_record(db, resident_id):
    """Everything held about one resident, or None: own data, household, visits, requests, who looked."""
    resident = one(db, "SELECT id, name, phone, gender, birth_year, moved_out_at, anonymised_at, created_at, "
                       "household_id FROM residents WHERE id = ?", [resident_id])
    if resident is None:
        return None
    household_id = resident.pop("household_id")
    resident["tags"] = [r["code"] for r in rows(
        db, "SELECT t.code FROM resident_tags rt JOIN tags t ON t.id = rt.tag_id WHERE rt.resident_id = ? "
            "AND rt.ended_on IS NULL ORDER BY t.code", [resident_id])]
    household = one(db, "SELECT h.address, h.unit, h.room, h.occupancy, b.name AS building, c.name AS cell "
                        "FROM households h LEFT JOIN buildings b ON b.id = h.building_id "
                        "JOIN cells c ON c.id = h.cell_id WHERE h.id = ?", [household_id])
    visits = rows(db, "SELECT v.visited_at, v.outcome, v.notes, v.residents_met, u.display_name AS visitor "
                      "FROM visits v JOIN users u ON u.id = v.user_id WHERE v.household_id = ? "
                      "ORDER BY v.visited_at, v.id", [household_id])
    for visit in visits:
        visit["met_this_resident"] = resident_id in json.loads(visit.pop("residents_met") or "[]")
    requests = rows(db, "SELECT category, description, status, created_at, due_date, resolution "
                        "FROM requests WHERE household_id = ? ORDER BY created_at, id", [household_id])
    accesses = rows(db, "SELECT a.at, a.action, u.display_name AS by_whom FROM audit_log a "
                        "LEFT JOIN users u ON u.id = a.user_id "
                        "WHERE (a.target_type = 'resident' AND a.target_id = :resident) "
                        "OR (a.target_type = 'household' AND a.target_id = :household) "
                        # an offline copy names the households it took, in one entry
                        f"OR (a.action = 'offline_copy' AND {db.dialect.json_has('a.detail', 'households', ':household')}) "
                        "ORDER BY a.id",
                    {"resident": resident_id, "household": household_id})
    return {"resident": resident, "household": household, "visits": visits, "requests": requests,
            "photos": photo_data.of_household(db, household_id), "accesses": accesses}


def retention_days(db):
    """How many days after moving out a resident's data is kept (settings)."""
    return int(scalar(db, "SELECT value FROM settings WHERE key = 'retention_days'") or DEFAULT_RETENTION_DAYS)


def set_retention_days(db, days):
    """Change the retention period."""
    with write(db):
        db.execute("INSERT INTO settings (key, value) VALUES ('retention_days', ?) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [str(days)])


def due_for_anonymisation(db, cutoff):
    """Ids of residents not yet anonymised who moved out (alone or with their household) before cutoff (ISO)."""
    return [r["id"] for r in rows(db, f"""
        SELECT r.id FROM residents r JOIN households h ON h.id = r.household_id
        WHERE r.anonymised_at IS NULL AND (
          r.moved_out_at < :cutoff
          OR (h.occupancy = 'moved_out' AND {_MOVED_OUT_SINCE} < :cutoff))
        ORDER BY r.id""", {"cutoff": cutoff})]


def anonymise(db, resident_ids, at):
    """Remove names, phones, birth data and vulnerable-group tags of resident_ids in one transaction."""
    resident_ids = list(resident_ids)
    changed = 0
    with write(db):
        for start in range(0, len(resident_ids), 500):  # SQLite takes a bounded number of parameters
            chunk = resident_ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            db.execute(f"DELETE FROM resident_tags WHERE resident_id IN ({marks})", chunk)
            changed += db.execute(f"UPDATE residents SET name = ?, phone = NULL, gender = NULL, birth_year = NULL, "
                                  f"anonymised_at = ? WHERE id IN ({marks}) AND anonymised_at IS NULL",
                                  [ANONYMOUS, at, *chunk]).rowcount
    return changed


def photos_due_for_deletion(db, cutoff):
    """Ids of the photos of households that moved out before cutoff (ISO), taken while they lived there: of their
    visits up to the move, and of their requests raised before it."""
    moved = _MOVED_OUT_SINCE
    return [r["id"] for r in rows(db, f"""
        SELECT p.id FROM photos p LEFT JOIN visits pv ON pv.id = p.visit_id LEFT JOIN requests q ON q.id = p.request_id
        JOIN households h ON h.id = coalesce(pv.household_id, q.household_id)
        WHERE h.occupancy = 'moved_out' AND {moved} < :cutoff AND coalesce(pv.visited_at, q.created_at) <= {moved}
        ORDER BY p.id""", {"cutoff": cutoff})]
