"""Plan a buildings import: points or footprints by id, pieces and parts merged, each placed in its cell."""
import shapely

from fieldapp.data import geodata
from fieldapp.imports.parsing import SAME_POINT, field_name, geojson_text, parse_point, parse_polygon, same_geojson
from fieldapp.imports.parsing import truthy
from fieldapp.imports.placing import CellLocator
from fieldapp.imports.problems import at, problem

# OSM (Tilezen) kinds that are points of a building, not buildings.
NOT_BUILDINGS = {"entrance", "address"}
BUILDING_KINDS = {"apartment": "apartment", "apartments": "apartment", "residential": "apartment",
                  "building": "apartment", "住宅": "apartment", "楼房": "apartment", "house": "house",
                  "detached": "house", "semidetached_house": "house", "terrace": "house", "平房": "house",
                  "民房": "house", "自建房": "house", "other": "other"}


def plan(db, source, records, convert, report):
    """Fill report with the buildings of records: counts, problems and the plan to write."""
    footprints, points = {}, []
    for record in records:
        values, geometry = record["values"], record["geometry"]
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if not values.get("external_id"):
            report["errors"].append(at(record, "required", field_name(source, "external_id")))
        elif (values.get("kind") or "").lower() in NOT_BUILDINGS:
            report["skipped"].append(at(record, "not_a_building", value=values["kind"]))
        elif geometry is None and source["format"] == "json":
            report["errors"].append(at(record, "no_geometry", "geometry"))
        elif geometry is None or kind == "Point":
            points.append(record)
        elif kind in ("Polygon", "MultiPolygon"):
            polygon = parse_polygon(record, convert, report)
            if polygon is not None:
                footprints.setdefault(values["external_id"], []).append((record, polygon))
        else:
            report["errors"].append(at(record, "geometry_type", "geometry", found=str(kind)[:30],
                                       kind="buildings", expected="point"))
    _merge_parts(footprints, report)
    buildings = _from_footprints(footprints, report) + _from_points(source, points, footprints, convert, report)
    _place(db, source, buildings, report)
    _diff(db, buildings, report)


def _merge_parts(footprints, report):
    """Move building parts (root_id of another footprint in the file) into their building."""
    for external_id in list(footprints):
        root = footprints[external_id][0][0]["values"].get("part_of")
        if root and root != external_id and root in footprints:
            footprints[root].extend(footprints.pop(external_id))
            report["notes"].append(problem("merged_parts", id=external_id, root=root))


def _from_footprints(footprints, report):
    """One building per id: its pieces united, its point the footprint's representative point."""
    buildings = []
    for external_id, pieces in footprints.items():
        record = pieces[0][0]
        geometry = pieces[0][1] if len(pieces) == 1 else shapely.unary_union([g for _r, g in pieces])
        own = sum(1 for r, _g in pieces if r["values"].get("external_id") == external_id)
        if own > 1:
            report["notes"].append(problem("merged_pieces", id=external_id, n=own))
        point = geometry.representative_point()  # inside the footprint, unlike the centroid
        values = [r["values"] for r, _g in pieces]
        buildings.append(_building(record, values, round(point.x, 7), round(point.y, 7), geojson_text(geometry)))
    return buildings


def _from_points(source, points, footprints, convert, report):
    """Point buildings, once each: labels of footprints and label points skipped, repeats refused."""
    buildings, first = [], {}
    for record in points:
        external_id = record["values"]["external_id"]
        if truthy(record["values"].get("label_placement")):
            report["skipped"].append(at(record, "label"))
            continue
        if external_id in footprints:
            report["skipped"].append(at(record, "label_of"))
            continue
        point = parse_point(source, record, convert, report)
        if point is None:
            report["errors"].append(at(record, "required", field_name(source, "longitude")))
        if not point:
            continue
        if external_id in first:
            report["errors"].append(at(record, "duplicate", field_name(source, "external_id"), value=external_id,
                                       first=at(first[external_id], "first")))
            continue
        first[external_id] = record
        buildings.append(_building(record, [record["values"]], point[0], point[1], None))
    return buildings


def _building(record, values, lon, lat, footprint):
    """A building to place: its id, name, kind, point and footprint."""
    name = next((v["name"] for v in values if v.get("name")), "")
    kind = next((v.get("kind_detail") or v["kind"] for v in values if v.get("kind_detail") or v.get("kind")), "")
    return {"record": record, "external_id": record["values"]["external_id"], "name": name,
            "kind": BUILDING_KINDS.get(kind.lower(), "other" if kind else "apartment"),
            "lon": lon, "lat": lat, "footprint": footprint,
            "hint": next((v["cell_code"] for v in values if v.get("cell_code")), "")}


def _place(db, source, buildings, report):
    """Put each building in the cell holding its point; outside every cell it is skipped."""
    locator = CellLocator(geodata.cells(db))
    field = "geometry" if source["format"] == "json" else field_name(source, "longitude")
    placed = locator.place([b["record"] for b in buildings], [(b["lon"], b["lat"]) for b in buildings],
                           [b["hint"] for b in buildings], report, field)
    for building, cell in zip(buildings, placed):
        building["cell_id"] = cell["id"] if cell else None


def _diff(db, buildings, report):
    """Count adds, updates and unchanged buildings and put the changes in the plan."""
    existing = geodata.buildings(db)
    changes, unnamed = [], 0
    for building in buildings:
        if building["cell_id"] is None:
            continue
        before = existing.get(building["external_id"])
        if not building["name"]:
            unnamed += not before
            building["name"] = before["name"] if before else building["external_id"]
        row = {key: building[key] for key in ("external_id", "cell_id", "name", "kind", "lon", "lat", "footprint")}
        if before and all(before[k] == row[k] for k in ("cell_id", "name", "kind")) \
                and abs(before["lon"] - row["lon"]) < SAME_POINT and abs(before["lat"] - row["lat"]) < SAME_POINT \
                and same_geojson(before["footprint"], row["footprint"]):
            report["unchanged"] += 1
            continue
        report["update" if before else "add"] += 1
        changes.append(row)
    if unnamed:
        report["notes"].append(problem("named_by_id", n=unnamed))
    report["plan"] = {"buildings": changes}
