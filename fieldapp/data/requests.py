"""The request ledger (群众台账): look-ups used by the visit loop."""
from fieldapp.data.db import rows


def categories(db):
    """The request categories with their time limits, in display order."""
    return rows(db, "SELECT code, label, due_days FROM categories ORDER BY position")


def followable_for_household(db, household_id):
    """The household's requests a visit can follow up: open and in progress, and resolved ones awaiting
    the resident's answer (a return visit), oldest due first."""
    return rows(
        db,
        "SELECT q.id, q.category, q.description, q.status, q.due_date, q.version, q.resolution, "
        "u.display_name AS responsible FROM requests q LEFT JOIN users u ON u.id = q.responsible_user_id "
        "WHERE q.household_id = ? AND q.status IN ('open', 'in_progress', 'resolved') "
        "ORDER BY q.status = 'resolved' DESC, q.due_date, q.id",
        [household_id],
    )
