"""Export cells, buildings, households (with status) and visits as GeoJSON, CSV or Excel.

The columns and properties are the ones the import reads, so an export can be imported again as it is;
what the import does not read (status, counts) it ignores.
"""
import json
import operator
from collections import Counter

import geojson

from fieldapp.data import exports
from fieldapp.data import households as household_data
from fieldapp.exports import tables

FORMATS = {"cells": ("geojson",), "buildings": ("geojson", "csv", "xlsx"),
           "households": ("geojson", "csv", "xlsx"), "visits": ("csv", "xlsx")}
PERSONAL = {"households", "visits"}  # residents' names and phones, visit notes: written to the audit log
# Rounding to more decimals than a double holds leaves it as it is: geojson rounds every coordinate it is given
# (to six decimals unless told), and a stored outline must come back as the import stored it.
EXACT = 324
BUILDING_COLUMNS = ("external_id", "name", "kind", "longitude", "latitude", "cell_code", "households")
HOUSEHOLD_COLUMNS = ("external_id", "building", "unit", "room", "address", "longitude", "latitude", "occupancy",
                     "cell_code", "status", "resident_name", "resident_phone", "resident_tags")
VISIT_COLUMNS = ("uuid", "household", "address", "cell_code", "member", "visited_at", "received_at", "outcome",
                 "notes", "latitude", "longitude", "accuracy_m", "distance_m", "location_flag",
                 "no_location_reason", "amended_outcome", "amended_notes")
TEMPLATES = {
    "cells": ("geojson", [geojson.Feature(
        geometry=geojson.Polygon([[(120.1, 30.28), (120.102, 30.28), (120.102, 30.282), (120.1, 30.282),
                                   (120.1, 30.28)]]),
        properties={"code": "C01", "name": "翠苑一区", "grid_code": "G1", "grid_name": "第一网格"})]),
    "buildings": ("csv", [{"external_id": "B001", "name": "3号楼", "kind": "apartment", "longitude": 120.1005,
                           "latitude": 30.2805, "cell_code": ""}]),
    "households": ("csv", [{"external_id": "H0001", "building": "B001", "unit": "2", "room": "501",
                            "address": "翠苑一区3号楼2单元501室", "longitude": "", "latitude": "",
                            "occupancy": "occupied", "cell_code": "", "resident_name": "王秀英",
                            "resident_phone": "13812341234", "resident_tags": "独居老人"}]),
}


def export(db, kind, fmt, clock, cell_ids=None, since=None, until=None):
    """The export of kind in fmt for cell_ids (None: all): {content, filename, count, personal}."""
    if kind == "visits":
        rows = [_visit_row(v) for v in exports.visits(db, cell_ids, since, until)]
        return _package(kind, fmt, VISIT_COLUMNS, rows, None)
    cells = exports.cells(db, cell_ids)
    buildings = exports.buildings(db, cell_ids)
    households = household_data.with_status(db, clock, cell_ids=cell_ids)
    codes = {c["id"]: c["code"] for c in cells}
    if kind == "cells":
        counts = _status_counts(households, "cell_id")
        features = [geojson.Feature(geometry=_stored(c["geometry"]), properties={
            "code": c["code"], "name": c["name"], "grid_code": c["grid_code"], "grid_name": c["grid_name"],
            **counts.get(c["id"], {"households": 0})}) for c in cells]
        return _package(kind, fmt, None, None, features)
    if kind == "buildings":
        counts = _status_counts(households, "building_id")
        rows = [{"external_id": b["external_id"], "name": b["name"], "kind": b["kind"], "longitude": _round(b["lon"]),
                 "latitude": _round(b["lat"]), "cell_code": b["cell_code"],
                 **counts.get(b["id"], {"households": 0})} for b in buildings]
        features = [geojson.Feature(geometry=_stored(b["footprint"]) if b["footprint"] else _point(b["lon"], b["lat"]),
                                    properties={k: v for k, v in row.items() if k not in ("longitude", "latitude")})
                    for b, row in zip(buildings, rows)]
        return _package(kind, fmt, BUILDING_COLUMNS, rows, features)
    building_ids = {b["id"]: b["external_id"] for b in buildings}
    people = {}
    for resident in exports.residents(db, cell_ids):
        people.setdefault(resident["household_id"], []).append(
            {"name": resident["name"], "phone": resident["phone"] or "", "tags": resident["tags"] or ""})
    households.sort(key=lambda h: h["id"])
    rows, features = [], []
    for h in households:
        base = {"external_id": h["external_id"], "building": building_ids.get(h["building_id"], ""),
                "unit": h["unit"] or "", "room": h["room"] or "", "address": h["address"],
                "longitude": _round(h["lon"]), "latitude": _round(h["lat"]), "occupancy": h["occupancy"],
                "cell_code": codes[h["cell_id"]], "status": h["status"]}
        residents = people.get(h["id"], [])
        for person in residents or [{"name": "", "phone": "", "tags": ""}]:
            rows.append({**base, "resident_name": person["name"], "resident_phone": person["phone"],
                         "resident_tags": person["tags"]})
        if fmt == "geojson":
            properties = {k: v for k, v in base.items() if k not in ("longitude", "latitude")}
            properties["residents"] = [{**p, "tags": [t for t in p["tags"].split(",") if t]} for p in residents]
            features.append(geojson.Feature(geometry=_point(h["lon"], h["lat"]) if h["lon"] is not None else None,
                                            properties=properties))
    return _package(kind, fmt, HOUSEHOLD_COLUMNS, rows, features)


def template(kind):
    """A small file showing the columns an import of kind reads: {content, filename}."""
    fmt, sample = TEMPLATES[kind]
    if fmt == "geojson":
        content = _geojson(sample)
    else:
        content = tables.csv_bytes(_table(kind, list(sample[0]), sample))
    return {"content": content, "filename": f"{kind}-template.{fmt}"}


def _package(kind, fmt, columns, rows, features):
    """Serialise rows (CSV, Excel) or features (GeoJSON) into the export's answer."""
    if fmt == "geojson":
        content, count = _geojson(features), len(features)
    else:
        content, count = tables.write(fmt, [_table(kind, columns, rows)]), len(rows)
    return {"content": content, "filename": f"{kind}.{fmt}", "count": count, "personal": kind in PERSONAL}


def _table(kind, columns, rows):
    """Rows (dicts holding every column) as a table for the table writer, every column written as given."""
    pick = operator.itemgetter(*columns)
    return kind, [(column, "text") for column in columns], [pick(row) for row in rows]


def _geojson(features):
    """A FeatureCollection of geojson features, one feature per line (diffable, readable by streaming tools)."""
    collection = geojson.FeatureCollection(features)
    lines = ",\n".join(geojson.dumps(f, separators=(",", ":")) for f in collection.features)
    return ('{"type":"FeatureCollection","features":[\n' + lines + "\n]}\n").encode("utf-8")


def _status_counts(households, key):
    """Per cell or building: the number of households and of each status."""
    counts = {}
    for h in households:
        if h[key] is not None:
            counts.setdefault(h[key], Counter())[h["status"]] += 1
    return {k: {"households": sum(c.values()), **dict(sorted(c.items()))} for k, c in counts.items()}


def _visit_row(visit):
    """A visit as an export row."""
    return {**visit, "latitude": visit["lat"], "longitude": visit["lon"]}


def _round(value):
    """A coordinate to seven decimals (about a centimetre), or '' when there is none."""
    return "" if value is None else round(value, 7)


def _point(lon, lat):
    """A point to seven decimals, as the import rounds a point."""
    return geojson.Point((lon, lat), precision=7)


def _stored(text):
    """An outline the database keeps as GeoJSON text, its coordinates exactly as stored (never rounded)."""
    geometry = json.loads(text)
    return getattr(geojson.factory, geometry["type"])(geometry["coordinates"], precision=EXACT)
