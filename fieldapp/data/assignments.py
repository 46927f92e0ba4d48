"""Who is responsible for which cell, with history: assign, transfer in one step, end; who held it when."""
from datetime import timedelta

from fieldapp import rules
from fieldapp.data import ledger
from fieldapp.data.db import insert, one, rows, scalar, write

_HISTORY = ("SELECT a.id, a.cell_id, a.user_id, a.valid_from, a.valid_to, c.code AS cell_code, c.name AS cell_name, "
            "u.username, u.display_name, u.active, b.display_name AS assigned_by_name "
            "FROM assignments a JOIN cells c ON c.id = a.cell_id JOIN users u ON u.id = a.user_id "
            "LEFT JOIN users b ON b.id = a.assigned_by ")


class AssignmentError(ValueError):
    """An assignment change that cannot be made; its args[0] is a reason code."""


def current(db, cell_id, user_id):
    """The open assignment of user_id to cell_id, or None."""
    return one(db, "SELECT * FROM assignments WHERE cell_id = ? AND user_id = ? AND valid_to IS NULL",
               [cell_id, user_id])


def get(db, assignment_id):
    """One assignment, or None."""
    return one(db, "SELECT * FROM assignments WHERE id = ?", [assignment_id])


def assign(db, cell_id, user_id, by, at=None):
    """Make user_id responsible for cell_id from at (default now); refuse a second open assignment."""
    at = at or rules.iso(rules.utcnow())
    with write(db):
        if current(db, cell_id, user_id):
            raise AssignmentError("already_assigned")
        return insert(db, "assignments", {"cell_id": cell_id, "user_id": user_id, "valid_from": at, "assigned_by": by})


def end(db, assignment_id, at=None, *, by=None, requests_follow=False):
    """End an open assignment at at (default now). With requests_follow, the member's unfinished requests in the
    cell pass to another member still holding it, else to the grid's leader, else to `by`; returns whom to (or
    None) and how many."""
    at = at or rules.iso(rules.utcnow())
    with write(db):
        found = get(db, assignment_id)
        changed = db.execute(f"UPDATE assignments SET valid_to = {db.dialect.greatest('?', 'valid_from')} "
                             "WHERE id = ? AND valid_to IS NULL", [at, assignment_id]).rowcount
        if not changed:
            raise AssignmentError("not_open")
        if not requests_follow:
            return None, 0
        successor = scalar(db, "SELECT user_id FROM assignments WHERE cell_id = :cell AND valid_to IS NULL "
                               "AND user_id != :user ORDER BY valid_from, id LIMIT 1",
                           {"cell": found["cell_id"], "user": found["user_id"]})
        successor = successor or scalar(db, "SELECT u.id FROM users u JOIN cells c ON c.grid_id = u.grid_id "
                                            "WHERE c.id = ? AND u.role = 'leader' AND u.active = 1 ORDER BY u.id LIMIT 1",
                                        [found["cell_id"]]) or by
        if successor is None:
            return None, 0
        return successor, ledger.hand_over(db, found["cell_id"], found["user_id"], successor, user_id=by or successor,
                                           at=at)


def transfer(db, cell_id, from_user_id, to_user_id, by, at=None, *, requests_follow=True):
    """Hand cell_id from one member to another in one transaction: one ends when the other begins, and (unless
    told otherwise) the giver's unfinished requests in the cell pass to the new holder. Returns how many did."""
    at = at or rules.iso(rules.utcnow())
    with write(db):
        held = current(db, cell_id, from_user_id)
        if held is None:
            raise AssignmentError("not_open")
        if from_user_id == to_user_id:
            raise AssignmentError("same_member")
        end(db, held["id"], at)
        if current(db, cell_id, to_user_id) is None:
            assign(db, cell_id, to_user_id, by, at)
        if not requests_follow:
            return 0
        return ledger.hand_over(db, cell_id, from_user_id, to_user_id, user_id=by, at=at)


def history_of_cell(db, cell_id):
    """Every assignment of a cell, the open ones first, then newest first."""
    return rows(db, _HISTORY + "WHERE a.cell_id = ? ORDER BY a.valid_to IS NOT NULL, a.valid_from DESC, a.id DESC",
                [cell_id])


def history_of_member(db, user_id, cell_ids=None):
    """Every assignment of a member (restricted to cell_ids when given), the open ones first."""
    return [a for a in rows(db, _HISTORY + "WHERE a.user_id = ? ORDER BY a.valid_to IS NOT NULL, "
                                            "a.valid_from DESC, a.id DESC", [user_id])
            if cell_ids is None or a["cell_id"] in cell_ids]


def responsible_between(db, cell_id, start, stop):
    """Who held cell_id at any moment in [start, stop) (UTC timestamps), with their periods."""
    return rows(db, _HISTORY + "WHERE a.cell_id = ? AND a.valid_from < ? AND (a.valid_to IS NULL OR a.valid_to > ?) "
                               "ORDER BY a.valid_from, a.id", [cell_id, stop, start])


def cells_with_members(db, cell_ids=None):
    """Cells (those in cell_ids, or all) with their grid and the members holding them now."""
    cells = rows(db, "SELECT c.id, c.code, c.name, g.name AS grid_name FROM cells c JOIN grids g ON g.id = c.grid_id "
                     "ORDER BY g.code, c.code")
    if cell_ids is not None:
        wanted = set(cell_ids)
        cells = [c for c in cells if c["id"] in wanted]
    holders = {}
    for a in rows(db, "SELECT a.id, a.cell_id, a.user_id, a.valid_from, u.display_name, u.username, u.active "
                      "FROM assignments a JOIN users u ON u.id = a.user_id WHERE a.valid_to IS NULL "
                      "ORDER BY u.display_name"):
        holders.setdefault(a["cell_id"], []).append(a)
    for cell in cells:
        cell["members"] = holders.get(cell["id"], [])
    return cells


def members(db):
    """Active members who can be given cells, by name."""
    return rows(db, "SELECT id, username, display_name FROM users WHERE role = 'member' AND active = 1 "
                    "ORDER BY display_name, username")


def responsible_on(db, cell_id, day, tz=rules.SHANGHAI):
    """Who held cell_id at any time on the calendar day (a date, in the community's time zone)."""
    return responsible_between(db, cell_id, rules.local_midnight_utc(day, tz),
                               rules.local_midnight_utc(day + timedelta(days=1), tz))
