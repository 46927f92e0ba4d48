"""What an export reads: cells, buildings, residents and visits of a set of cells (None: all)."""
import json

from fieldapp.data import status
from fieldapp.data.db import rows

def _in_scope(db, column):
    """SQL restricting column to the cells of the :cells parameter (see _scope; NULL: every cell). One JSON
    parameter keeps the SQL the same for 3 cells or 3,000."""
    return f"(:cells IS NULL OR {column} IN {db.dialect.json_values(':cells', 'INTEGER')})"


def _scope(cell_ids):
    """The :cells parameter for cell_ids (None: every cell)."""
    return {"cells": None if cell_ids is None else json.dumps(list(cell_ids))}


def cells(db, cell_ids=None):
    """Cells with their grid and geometry (GeoJSON text)."""
    return rows(db, "SELECT c.id, c.code, c.name, g.code AS grid_code, g.name AS grid_name, c.geometry "
                    "FROM cells c JOIN grids g ON g.id = c.grid_id WHERE " + _in_scope(db, "c.id") +
                " ORDER BY c.id", _scope(cell_ids))


def buildings(db, cell_ids=None):
    """Buildings with their cell's code."""
    return rows(db, "SELECT b.id, b.external_id, b.name, b.kind, b.lon, b.lat, b.footprint, b.cell_id, "
                    "c.code AS cell_code FROM buildings b JOIN cells c ON c.id = b.cell_id WHERE " +
                _in_scope(db, "b.cell_id") + " ORDER BY b.id", _scope(cell_ids))


def residents(db, cell_ids=None):
    """Current residents of the households in scope, with their tags' labels, in household order."""
    return rows(db, "SELECT r.household_id, r.name, r.phone, "
                    f"(SELECT {db.dialect.joined('t.label', order='t.id')} FROM resident_tags rt "
                    "JOIN tags t ON t.id = rt.tag_id "
                    " WHERE rt.resident_id = r.id AND rt.ended_on IS NULL) AS tags "
                    "FROM residents r JOIN households h ON h.id = r.household_id "
                    "WHERE r.moved_out_at IS NULL AND " + _in_scope(db, "h.cell_id") +
                " ORDER BY r.household_id, r.id", _scope(cell_ids))


def visits(db, cell_ids=None, since=None, until=None):
    """Visits in scope (UTC timestamps since <= visited_at < until), with the latest amendment's changes."""
    params = {**_scope(cell_ids), "since": since, "until": until}
    return rows(
        db,
        "SELECT v.uuid, h.external_id AS household, h.address, c.code AS cell_code, u.username AS member, "
        "v.visited_at, v.received_at, v.outcome, v.notes, v.lat, v.lon, v.accuracy_m, v.distance_m, "
        "v.location_flag, v.no_location_reason, "
        "(SELECT a.outcome FROM visit_amendments a WHERE a.visit_id = v.id AND a.outcome IS NOT NULL "
        " ORDER BY a.at DESC, a.id DESC LIMIT 1) AS amended_outcome, "
        "(SELECT a.notes FROM visit_amendments a WHERE a.visit_id = v.id AND a.notes IS NOT NULL "
        " ORDER BY a.at DESC, a.id DESC LIMIT 1) AS amended_notes "
        "FROM visits v JOIN households h ON h.id = v.household_id JOIN cells c ON c.id = h.cell_id "
        "JOIN users u ON u.id = v.user_id WHERE " + _in_scope(db, "h.cell_id") +
        " AND (:since IS NULL OR v.visited_at >= :since) AND (:until IS NULL OR v.visited_at < :until) "
        "ORDER BY v.visited_at, v.id",
        params,
    )


def household_points(db):
    """Every household with its building's external id, its cell's code and its point (own or its building's)."""
    return rows(db, "SELECT h.external_id, b.external_id AS building_external_id, h.unit, h.room, h.address, "
                    "c.code AS cell_code, h.occupancy, coalesce(h.lon, b.lon) AS lon, coalesce(h.lat, b.lat) AS lat "
                    "FROM households h JOIN cells c ON c.id = h.cell_id LEFT JOIN buildings b ON b.id = h.building_id "
                    f"WHERE {status.IN_REGISTER} ORDER BY h.id")
