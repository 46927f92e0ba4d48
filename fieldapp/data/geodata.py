"""Cells, buildings and households as an import sees them, and their bulk upsert by external id."""
import json
from datetime import timedelta

from fieldapp import rules
from fieldapp.data.db import one, rows, write

DEFAULT_GRID = ("unassigned", "未分网格")  # where cells go whose file names no grid


def cells(db):
    """Every cell with its grid's code and its geometry (GeoJSON text)."""
    return rows(db, "SELECT c.id, c.code, c.name, c.grid_id, g.code AS grid_code, c.geometry "
                    "FROM cells c JOIN grids g ON g.id = c.grid_id ORDER BY c.id")


def grids(db):
    """Grid ids by code."""
    return {r["code"]: r["id"] for r in rows(db, "SELECT id, code FROM grids")}


def buildings(db):
    """Every building by external id."""
    return {r["external_id"]: r for r in rows(
        db, "SELECT id, external_id, cell_id, name, kind, lon, lat, footprint FROM buildings")}


def households(db):
    """Every household's imported fields, by external id."""
    return {r["external_id"]: r for r in rows(
        db, "SELECT id, external_id, cell_id, building_id, unit, room, address, lon, lat, occupancy "
            "FROM households")}


def residents_by_household(db):
    """Current residents with their tag codes, grouped by household id."""
    grouped = {}
    for r in rows(db, "SELECT r.id, r.household_id, r.name, r.phone, "
                      f"(SELECT {db.dialect.joined('t.code', order='t.id')} FROM resident_tags rt "
                      "JOIN tags t ON t.id = rt.tag_id "
                      " WHERE rt.resident_id = r.id AND rt.ended_on IS NULL) AS tags "
                      "FROM residents r WHERE r.moved_out_at IS NULL ORDER BY r.id"):
        grouped.setdefault(r["household_id"], []).append(r)
    return grouped


def tags(db):
    """The resident tags: id, code and Chinese label."""
    return rows(db, "SELECT id, code, label FROM tags ORDER BY id")


def apply_cells(db, plan):
    """Create the plan's new grids and insert or update its cells, all in one transaction."""
    with write(db):
        for code, name in plan["new_grids"]:
            db.execute("INSERT INTO grids (code, name) VALUES (?, ?)", [code, name])
        grid_ids = grids(db)
        db.upsert("cells", ("grid_id", "code", "name", "geometry", "min_lon", "min_lat", "max_lon", "max_lat"),
                  [{**cell, "grid_id": grid_ids[cell["grid_code"]]} for cell in plan["cells"]], key="code")


def apply_buildings(db, plan):
    """Insert or update the plan's buildings in one transaction."""
    with write(db):
        db.upsert("buildings", ("external_id", "cell_id", "name", "kind", "lon", "lat", "footprint"),
                  plan["buildings"], key="external_id")


def apply_households(db, plan):
    """Insert or update the plan's households and their residents in one transaction."""
    now = rules.iso(rules.utcnow())
    with write(db):
        # created_at is kept for a known household: it tells since when the household has been due.
        db.upsert("households", ("external_id", "cell_id", "building_id", "unit", "room", "address", "lon", "lat",
                                 "occupancy", "created_at"),
                  [{**household, "created_at": now} for household in plan["households"]], key="external_id",
                  keep=("created_at",))
        if plan["residents"]:
            _apply_residents(db, plan["residents"], now)


def _apply_residents(db, residents, now):
    """Add the file's residents to their households, or update the phone and tags of those known by name."""
    ids = {r["external_id"]: r["id"] for r in rows(
        db, f"SELECT id, external_id FROM households WHERE external_id IN {db.dialect.json_values('?')}",
        [json.dumps(list(residents))])}
    known = {}
    for r in rows(db, "SELECT id, household_id, name FROM residents WHERE moved_out_at IS NULL AND household_id IN "
                      f"{db.dialect.json_values('?', 'INTEGER')}", [json.dumps(list(ids.values()))]):
        known.setdefault((r["household_id"], r["name"]), r["id"])
    new, updated, tagged = [], [], []
    for external_id, people in residents.items():
        household_id = ids[external_id]
        for person in people:
            resident_id = known.get((household_id, person["name"]))
            if resident_id is None:
                new.append((household_id, person["name"], person["phone"] or None, now, person["tag_ids"]))
            else:
                updated.append((person["phone"] or None, resident_id))
                tagged.append((resident_id, person["tag_ids"]))
    db.executemany("UPDATE residents SET phone = ? WHERE id = ?", updated)
    # New rows take ids reserved for them, in order (SQLite: under BEGIN IMMEDIATE nobody else inserts).
    first = db.reserve_ids("residents", len(new))
    db.copy("residents", ("id", "household_id", "name", "phone", "created_at"),
            [(first + i, *person[:4]) for i, person in enumerate(new)])
    tagged.extend((first + i, person[4]) for i, person in enumerate(new) if person[4])
    # Tags have their days: those the file no longer names end today, new ones start today, the rest go on.
    day = rules.local_date(now).isoformat()
    held = {}
    for r in rows(db, "SELECT resident_id, tag_id FROM resident_tags WHERE ended_on IS NULL AND resident_id IN "
                      f"{db.dialect.json_values('?', 'INTEGER')}", [json.dumps([rid for _phone, rid in updated])]):
        held.setdefault(r["resident_id"], set()).add(r["tag_id"])
    ended = [(day, rid, tag_id) for rid, tag_ids in tagged for tag_id in held.get(rid, set()) - set(tag_ids)]
    db.executemany("UPDATE resident_tags SET ended_on = CASE WHEN started_on > ? THEN started_on ELSE ? END "
                   "WHERE resident_id = ? AND tag_id = ? AND ended_on IS NULL",
                   [(d, d, rid, tag_id) for d, rid, tag_id in ended])
    db.copy("resident_tags", ("resident_id", "tag_id", "started_on"),
            [(rid, tag_id, day) for rid, tag_ids in tagged for tag_id in dict.fromkeys(tag_ids)
             if tag_id not in held.get(rid, ())])


def save_upload(db, *, token, user_id, kind, crs, filename, content):
    """Keep an uploaded file until its import is committed; forget uploads older than a day."""
    now = rules.utcnow()
    with write(db):
        db.execute("DELETE FROM import_uploads WHERE created_at < ?", [rules.iso(now - timedelta(days=1))])
        db.execute("INSERT INTO import_uploads (token, user_id, kind, crs, filename, content, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", [token, user_id, kind, crs, filename, content, rules.iso(now)])


def upload(db, token, user_id):
    """The upload with token made by user_id, or None."""
    return one(db, "SELECT * FROM import_uploads WHERE token = ? AND user_id = ?", [token, user_id])


def forget_upload(db, token):
    """Delete an upload once its import is committed."""
    with write(db):
        db.execute("DELETE FROM import_uploads WHERE token = ?", [token])
