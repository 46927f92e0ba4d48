"""Import cells, buildings and households: read a file, check every row or feature, and plan the writes.

preview() writes nothing: it returns what the preview page shows (counts, errors, skipped features,
notes) and the plan that commit() writes in one transaction. Both the admin page and `fieldapp import`
call them, so a file gets the same answer everywhere.
"""
import contextlib
import gc
import json
import math
import re

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from fieldapp import readers
from fieldapp.data import geodata
from fieldapp.problems import Refused, at, problem

KINDS = ("cells", "buildings", "households")
FORMATS = {"cells": ("json",), "buildings": ("json", "csv", "xlsx"), "households": ("json", "csv", "xlsx")}
CRS = ("wgs84", "gcj02")
OVERLAP_M2 = 1.0  # cells that share an edge meet; more than a square metre in common is an overlap
SAME_POINT = 1e-7  # degrees, about a centimetre: coordinates are kept to seven decimals
M_PER_DEGREE = 111_320.0


def _aliases(table):
    """Map every accepted column name (normalised) to its canonical name."""
    return {readers.normalise_header(alias): canonical for canonical, names in table.items()
            for alias in (canonical, *names)}


_ID = ("id", "code", "编号", "编码", "代码")
ALIASES = {
    "cells": _aliases({"external_id": (*_ID, "cell_code", "网格编码", "微网格编码"),
                       "name": ("name:zh", "名称", "微网格", "微网格名称"),
                       "grid_code": ("grid", "网格", "网格编码"), "grid_name": ("网格名称",),
                       "label_placement": ()}),
    "buildings": _aliases({"external_id": (*_ID, "楼栋编号"), "name": ("name:zh", "名称", "楼栋", "楼栋名称"),
                           "kind": ("类型",), "kind_detail": (), "longitude": ("lon", "lng", "x", "经度"),
                           "latitude": ("lat", "y", "纬度"), "cell_code": ("cell", "微网格"),
                           "part_of": ("root_id",), "label_placement": ()}),
    "households": _aliases({"external_id": (*_ID, "户编号", "住户编号"),
                            "building": ("building_external_id", "building_id", "楼栋", "楼栋编号"),
                            "unit": ("单元",), "room": ("室", "房号", "门牌号"), "address": ("地址", "住址"),
                            "longitude": ("lon", "lng", "x", "经度"), "latitude": ("lat", "y", "纬度"),
                            "occupancy": ("居住状态",), "cell_code": ("cell", "微网格"),
                            "resident_name": ("name", "姓名", "居民"), "resident_phone": ("phone", "电话", "手机", "联系电话"),
                            "resident_tags": ("tags", "标签"), "residents": ()}),
}
RESIDENT_SHEET = (("residents", "居民"), _aliases({"household": ("external_id", "户编号", "住户编号"),
                                                 "resident_name": ("name", "姓名"),
                                                 "resident_phone": ("phone", "电话", "手机", "联系电话"),
                                                 "resident_tags": ("tags", "标签")}))
REQUIRED = {"buildings": ("external_id", "longitude", "latitude"), "households": ("external_id", "address")}
# OSM (Tilezen) kinds that are points of a building, not buildings.
NOT_BUILDINGS = {"entrance", "address"}
BUILDING_KINDS = {"apartment": "apartment", "apartments": "apartment", "residential": "apartment",
                  "building": "apartment", "住宅": "apartment", "楼房": "apartment", "house": "house",
                  "detached": "house", "semidetached_house": "house", "terrace": "house", "平房": "house",
                  "民房": "house", "自建房": "house", "other": "other"}
OCCUPANCY = {"occupied": "occupied", "在住": "occupied", "vacant": "vacant", "空置": "vacant",
             "moved_out": "moved_out", "迁出": "moved_out", "已迁出": "moved_out"}


def new_report(kind, filename, crs):
    """An empty preview for a file."""
    return {"kind": kind, "filename": filename, "crs": crs, "format": None, "add": 0, "update": 0,
            "unchanged": 0, "errors": [], "skipped": [], "notes": [], "plan": None}


@contextlib.contextmanager
def collector_paused():
    """Pause Python's cyclic garbage collector for a block.

    A file of 100,000 rows makes millions of small objects, none in a cycle: the collector would walk them
    all again and again (a third of an import's time), so it waits until the block is done.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def preview(db, kind, content, filename, crs="wgs84"):
    """Read and check a file of kind against the database; return the preview and its plan (writes nothing)."""
    with collector_paused():
        return _preview(db, kind, content, filename, crs)


def _preview(db, kind, content, filename, crs):
    """preview() without the collector's pauses."""
    report = new_report(kind, filename, crs)
    if len(content) > readers.LIMIT_MB * 1024 * 1024:
        report["errors"].append(problem("too_large", size=f"{len(content) / 1048576:.1f}", limit=readers.LIMIT_MB))
        return report
    try:
        source = read(kind, content, filename)
    except Refused as refusal:
        report["errors"].append(refusal.problem)
        return report
    report["format"] = source["format"]
    report["notes"].extend(source["notes"])
    records = source["records"]
    for record in records:
        if record.get("skip"):
            report["skipped"].append(at(record, record["skip"]))
        elif record.get("problem"):
            report["errors"].append({**at(record, record["problem"]["code"]), "params": record["problem"]["params"]})
    wanted = [r for r in records if not r.get("skip") and not r.get("problem")]
    if not wanted:
        report["errors"].append(problem("no_records"))
        return report
    convert = converter(crs)
    # Imported here: the planners use this module's helpers.
    if kind == "cells":
        from fieldapp import import_cells as planner
    elif kind == "buildings":
        from fieldapp import import_buildings as planner
    else:
        from fieldapp import import_households as planner
    planner.plan(db, source, wanted, convert, report)
    report["errors"].sort(key=_order)
    report["skipped"].sort(key=_order)
    if report["errors"]:
        report["plan"] = None
    return report


def commit(db, report):
    """Write a preview's plan in one transaction; refuse (return False) when it has errors."""
    if report["errors"] or report["plan"] is None:
        return False
    apply = {"cells": geodata.apply_cells, "buildings": geodata.apply_buildings,
             "households": geodata.apply_households}[report["kind"]]
    with collector_paused():
        apply(db, report["plan"])
    return True


def _order(found):
    """Problems in file order: the file itself first, then by sheet and number."""
    return (found.get("sheet") or "", found.get("n") or 0)


def read(kind, content, filename):
    """The records of a file for kind; a file that cannot be read raises Refused."""
    fmt = readers.detect_format(content, filename)
    if fmt not in FORMATS[kind]:
        allowed = " / ".join(FORMATS[kind])
        raise Refused(problem("wrong_format", kind=kind, actual=fmt, allowed=allowed if kind != "cells" else "json"))
    extras = {}
    if fmt == "json":
        records, columns, notes = readers.read_geojson(content, ALIASES[kind])
    elif fmt == "csv":
        records, columns, notes = readers.read_csv(content, ALIASES[kind])
    else:
        records, columns, extras, notes = readers.read_xlsx(
            content, ALIASES[kind], [RESIDENT_SHEET] if kind == "households" else [])
    if fmt != "json":
        for column in REQUIRED.get(kind, ()):
            if column not in columns:
                raise Refused(problem("missing_column", column=column))
        if kind == "households" and "building" not in columns and "longitude" not in columns:
            raise Refused(problem("missing_column", column="building / longitude, latitude"))
    return {"format": fmt, "records": records, "columns": columns, "notes": notes, "extras": extras}


def converter(crs):
    """A function turning input coordinates into WGS-84, or None when they are WGS-84 already."""
    if crs != "gcj02":
        return None
    from fieldapp.geo import gcj02_to_wgs84

    return gcj02_to_wgs84


def field_name(source, canonical):
    """The column or property as the file names it (for errors), else the canonical name."""
    return source["columns"].get(canonical, canonical)


def parse_point(source, record, convert, report):
    """The record's WGS-84 point from its columns or Point geometry: (lon, lat), None, or False on error."""
    geometry = record["geometry"]
    if geometry is not None:
        coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if not isinstance(coordinates, list) or len(coordinates) < 2:
            report["errors"].append(at(record, "bad_coordinates", "geometry"))
            return False
        raw, fields = coordinates[:2], ("longitude", "latitude")
    else:
        values = record["values"]
        raw = [values.get("longitude", ""), values.get("latitude", "")]
        if not raw[0] and not raw[1]:
            return None
        fields = ("longitude", "latitude")
        if not raw[0] or not raw[1]:
            report["errors"].append(at(record, "half_point", field_name(source, fields[0 if not raw[0] else 1])))
            return False
    try:
        lon, lat = float(raw[0]), float(raw[1])  # float() takes '120.1', ' 120.1 ' and full-width digits
    except (TypeError, ValueError):
        lon = lat = None
    if lon is None or not (math.isfinite(lon) and math.isfinite(lat)):
        bad = 0 if not _is_number(raw[0]) else 1
        report["errors"].append(at(record, "not_number", _field(source, geometry, fields[bad]), value=str(raw[bad])[:40]))
        return False
    if not -180 <= lon <= 180 or not -90 <= lat <= 90:
        if -180 <= lat <= 180 and -90 <= lon <= 90:
            report["errors"].append(at(record, "swapped_range", _field(source, geometry, "latitude"), lat=_fmt(lat)))
        elif not -180 <= lon <= 180:
            report["errors"].append(at(record, "lon_range", _field(source, geometry, "longitude"), value=_fmt(lon)))
        else:
            report["errors"].append(at(record, "lat_range", _field(source, geometry, "latitude"), value=_fmt(lat)))
        return False
    if convert:
        lon, lat = convert(lon, lat)
    return round(lon, 7), round(lat, 7)


def _is_number(value):
    """Whether value reads as a finite number."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _field(source, geometry, canonical):
    """The field to name in a coordinate's error: 'geometry' for a feature, else the column."""
    return "geometry" if geometry is not None else field_name(source, canonical)


def truthy(value):
    """Whether a property says yes (true, 1, yes), as OSM's label_placement does."""
    return str(value).strip().lower() in ("true", "1", "yes")


def _fmt(number):
    """A coordinate for a message."""
    return f"{number:.6f}".rstrip("0").rstrip(".")


def parse_polygon(record, convert, report):
    """The record's (Multi)Polygon as a valid shapely geometry in WGS-84, or None after reporting why not."""
    try:
        geometry = shape(record["geometry"])
        coordinates = shapely.get_coordinates(geometry)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, shapely.errors.GEOSException):
        report["errors"].append(at(record, "bad_coordinates", "geometry"))
        return None
    if not len(coordinates) or not np.isfinite(coordinates).all():
        report["errors"].append(at(record, "bad_coordinates", "geometry"))
        return None
    lons, lats = coordinates[:, 0], coordinates[:, 1]
    if (np.abs(lons) > 180).any() or (np.abs(lats) > 90).any():
        if (np.abs(lats) <= 180).all() and (np.abs(lons) <= 90).all():
            report["errors"].append(at(record, "swapped_range", "geometry", lat=_fmt(lats[np.abs(lats) > 90][0])))
        elif (np.abs(lons) > 180).any():
            report["errors"].append(at(record, "lon_range", "geometry", value=_fmt(lons[np.abs(lons) > 180][0])))
        else:
            report["errors"].append(at(record, "lat_range", "geometry", value=_fmt(lats[np.abs(lats) > 90][0])))
        return None
    if convert:
        geometry = shapely.transform(geometry, lambda xy: np.array([convert(x, y) for x, y in xy]))
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        found = re.match(r"Self-intersection\[([-\d.e]+) ([-\d.e]+)\]", reason)
        if found:
            report["errors"].append(at(record, "self_intersection", "geometry",
                                       lon=_fmt(float(found.group(1))), lat=_fmt(float(found.group(2)))))
        else:
            report["errors"].append(at(record, "invalid_polygon", "geometry", detail=reason))
        return None
    if geometry.is_empty or geometry.area == 0:
        report["errors"].append(at(record, "empty_polygon", "geometry"))
        return None
    return geometry


def geojson_text(geometry):
    """A shapely geometry as the compact GeoJSON text the database keeps."""
    return json.dumps(mapping(geometry), separators=(",", ":"))


def same_geojson(stored, text):
    """Whether stored GeoJSON text describes the same geometry as text."""
    if stored is None or text is None:
        return stored == text
    return geojson_text(shape(json.loads(stored))) == text


def area_m2(geometry):
    """A small geometry's area in square metres (degrees scaled at its latitude)."""
    lat = geometry.centroid.y
    return geometry.area * M_PER_DEGREE * M_PER_DEGREE * math.cos(math.radians(lat))


class CellLocator:
    """Find the cells containing points, with an STRtree over the cells' polygons."""

    def __init__(self, cells):
        self.cells = cells
        self.tree = shapely.STRtree([shape(json.loads(c["geometry"])) for c in cells])

    def locate(self, points):
        """For each (lon, lat), the list of cells whose polygon (border included) holds it."""
        found = [[] for _ in points]
        if not points or not self.cells:
            return found
        array = np.asarray(points, dtype=float)
        geoms = shapely.points(array[:, 0], array[:, 1])
        point_index, cell_index = self.tree.query(geoms, predicate="intersects")
        for p, c in zip(point_index.tolist(), cell_index.tolist()):
            found[p].append(self.cells[c])
        return found

    def place(self, records, points, hints, report, field="geometry"):
        """The cell of each point: one cell, a hinted cell on a border, or None after an error or a skip."""
        placed = []
        located = self.locate(points)
        outside = [i for i, cells in enumerate(located) if not cells]
        swapped = self.locate([(points[i][1], points[i][0]) for i in outside]) if outside else []
        swapped_in = {i: bool(cells) for i, cells in zip(outside, swapped)}
        for i, (record, point, hint, cells) in enumerate(zip(records, points, hints, located)):
            codes = [c["code"] for c in cells]
            if not cells:
                if swapped_in.get(i):
                    report["errors"].append(at(record, "swapped", field, lon=_fmt(point[0]), lat=_fmt(point[1])))
                else:
                    report["skipped"].append(at(record, "outside", lon=_fmt(point[0]), lat=_fmt(point[1])))
                placed.append(None)
            elif hint and hint in codes:
                placed.append(cells[codes.index(hint)])
            elif hint:
                report["errors"].append(at(record, "other_cell", "cell_code", found=" / ".join(codes), given=hint))
                placed.append(None)
            elif len(cells) > 1:
                report["errors"].append(at(record, "border", field, cells=", ".join(sorted(codes))))
                placed.append(None)
            else:
                placed.append(cells[0])
        return placed
