"""Cells and who is responsible for them (assignments with history)."""
from fieldapp.data.db import one, rows, scalar


def assigned_cell_ids(db, user_id, at):
    """Ids of the cells assigned to user_id at the UTC timestamp at."""
    return [r["cell_id"] for r in rows(
        db,
        "SELECT DISTINCT cell_id FROM assignments WHERE user_id = ? AND valid_from <= ? "
        "AND (valid_to IS NULL OR valid_to > ?)",
        [user_id, at, at],
    )]


def grid_cell_ids(db, grid_id):
    """Ids of the cells of a grid."""
    return [r["id"] for r in rows(db, "SELECT id FROM cells WHERE grid_id = ?", [grid_id])]


def grid_id_by_code(db, code):
    """The id of the grid with code, or None."""
    return scalar(db, "SELECT id FROM grids WHERE code = ?", [code])


def get(db, cell_id):
    """The cell with cell_id and its grid's name, or None."""
    return one(db, "SELECT c.id, c.code, c.name, c.grid_id, g.name AS grid_name FROM cells c "
                   "JOIN grids g ON g.id = c.grid_id WHERE c.id = ?", [cell_id])


def responsible_members(db, cell_id, at):
    """The members assigned to cell_id at the UTC timestamp at."""
    return rows(
        db,
        "SELECT u.id, u.display_name, a.valid_from FROM assignments a JOIN users u ON u.id = a.user_id "
        "WHERE a.cell_id = ? AND a.valid_from <= ? AND (a.valid_to IS NULL OR a.valid_to > ?) "
        "ORDER BY u.display_name",
        [cell_id, at, at],
    )
