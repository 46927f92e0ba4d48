"""Where a request is: a household, a building or a cell, as the ledger, the partners' lists and the hotline's
orders join and scope it."""
from fieldapp.data.db import in_clause


# A request belongs to a household, a building or a cell (exactly one is set): its place is the household h,
# else the building b; its cell is theirs, else its own. Queries join PLACE to name it and scope by place_in.
PLACE = "LEFT JOIN households h ON h.id = q.household_id LEFT JOIN buildings b ON b.id = q.building_id "
CELL = "coalesce(h.cell_id, b.cell_id, q.cell_id)"
# What a list names a request by: the household's address, the building's name, or the cell's (c joined on CELL).
PLACE_NAME = "coalesce(h.address, b.name, c.name)"


def place_in(cell_ids, params, name="cell"):
    """SQL: request q's place lies in cell_ids (None: anywhere), adding its parameters to params.

    The same as CELL IN (...), but each of the three places through its own index (households_cell, buildings_cell,
    then requests' household, building and cell indexes): CELL of every request, read for a grid, scanned them all.
    """
    if cell_ids is None:
        return "TRUE"
    cells = in_clause("cell_id", cell_ids, params, name)
    return (f"(q.household_id IN (SELECT id FROM households WHERE {cells}) "
            f"OR q.building_id IN (SELECT id FROM buildings WHERE {cells}) OR q.{cells})")
