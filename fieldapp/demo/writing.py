"""Writing the demo: its rows in one bulk load, and its places as three GeoJSON files."""
import json
from pathlib import Path

import geojson

from fieldapp.data import bulk, exports
from fieldapp.demo import register

GEODATA_DIR = Path(__file__).resolve().parents[2] / "geodata" / "demo"
# Each table's columns in the order of its generated rows' fields; the tables load in this order.
COLUMNS = {
    "grids": ("id", "code", "name"),
    "cells": ("id", "grid_id", "code", "name", "geometry", "min_lon", "min_lat", "max_lon", "max_lat"),
    "buildings": ("id", "external_id", "cell_id", "name", "kind", "lon", "lat"),
    "users": ("id", "username", "display_name", "password_hash", "role", "grid_id", "created_at"),
    "households": ("id", "external_id", "cell_id", "building_id", "unit", "room", "address", "lon", "lat",
                   "occupancy", "last_visit_at", "last_visit_user_id", "last_contact_at", "last_met_at",
                   "last_attempt_at", "created_at"),
    "residents": ("id", "household_id", "name", "phone", "gender", "birth_year", "relation", "moved_out_at",
                  "left_reason", "moved_to", "created_at"),
    "resident_tags": ("resident_id", "tag_id", "started_on", "ended_on"),
    "assignments": ("cell_id", "user_id", "valid_from", "valid_to", "assigned_by"),
    "visits": ("visited_at", "uuid", "household_id", "user_id", "received_at", "lat", "lon", "accuracy_m",
               "distance_m", "location_flag", "no_location_reason", "outcome", "residents_met", "notes"),
    "requests": ("id", "uuid", "household_id", "visit_id", "category", "description", "status",
                 "responsible_user_id", "due_date", "referral", "resolution", "created_by", "created_at",
                 "updated_at", "version", "channel"),
    "request_events": ("request_id", "user_id", "at", "kind", "from_status", "to_status", "note", "visit_id",
                       "data"),
    "visit_amendments": ("visit_id", "user_id", "at", "reason", "outcome"),
    "visit_standing": ("visit_id", "outcome", "rejected"),
    "register_changes": register.COLUMNS,
    "review_events": ("subject", "subject_id", "user_id", "at", "action", "note"),
}
# The properties of each file's features, in their order; the geometry comes from the rest of the row.
PROPERTIES = {
    "cells": ("code", "name", "grid_code"),
    "buildings": ("external_id", "name", "kind", "cell_code"),
    "households": ("external_id", "building_external_id", "unit", "room", "address", "cell_code", "occupancy"),
}


def insert(db, tables):
    """Load the generated rows of every table (lists by table name) in one bulk load."""
    with bulk.load(db):
        for table, columns in COLUMNS.items():
            bulk.insert(db, table, columns, tables[table])


def cell_row(cell):
    """A cell as a row: GeoJSON polygon text and its bounding box."""
    lons, lats = [p[0] for p in cell["ring"]], [p[1] for p in cell["ring"]]
    geometry = json.dumps({"type": "Polygon", "coordinates": [[list(p) for p in cell["ring"]]]},
                          separators=(",", ":"))
    return (cell["id"], cell["grid_id"], cell["code"], cell["name"], geometry,
            min(lons), min(lats), max(lons), max(lats))


def household_row(home):
    """A household as a row."""
    return (home["id"], home["external_id"], home["cell"]["id"], home["building"], home["unit"], home["room"],
            home["address"], home["lon"], home["lat"], home["occupancy"], home["last_visit_at"],
            home["last_visit_user_id"], home["last_contact_at"], home["last_met_at"], home["last_attempt_at"],
            home["created_at"])


def write_geojson(db, geodata_dir):
    """Write the cells, buildings and households of db as three GeoJSON FeatureCollections."""
    geodata_dir = Path(geodata_dir)
    geodata_dir.mkdir(parents=True, exist_ok=True)
    places = {"cells": [(geojson.loads(cell["geometry"]), cell) for cell in exports.cells(db)],
              "buildings": [(geojson.Point((row["lon"], row["lat"])), row) for row in exports.buildings(db)],
              "households": [(geojson.Point((row["lon"], row["lat"])), row) for row in exports.household_points(db)]}
    for name, shapes in places.items():
        collection = geojson.FeatureCollection([
            geojson.Feature(geometry=geometry, properties={key: row[key] for key in PROPERTIES[name]})
            for geometry, row in shapes])
        (geodata_dir / f"{name}.geojson").write_text(_one_feature_a_line(collection), encoding="utf-8")


def _one_feature_a_line(collection):
    """A FeatureCollection as compact text with one feature a line, so that the committed files diff by feature."""
    lines = ",\n".join(geojson.dumps(feature, ensure_ascii=False, separators=(",", ":"))
                       for feature in collection["features"])
    return f'{{"type":"{collection["type"]}","features":[\n{lines}\n]}}\n'
