"""Plan a cells import: polygons by code, pieces merged, label points skipped, overlaps refused."""
import json

import shapely
from shapely.geometry import shape

from fieldapp.data import geodata
from fieldapp.imports.parsing import area_m2, geojson_text, parse_polygon, same_geojson, truthy
from fieldapp.imports.problems import at, problem

OVERLAP_M2 = 1.0  # cells that share an edge meet; more than a square metre in common is an overlap


def plan(db, source, records, convert, report):
    """Fill report with the cells of records: counts, problems and the plan to write."""
    pieces, points = {}, []
    for record in records:
        values, geometry = record["values"], record["geometry"]
        code = values.get("external_id", "")
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if geometry is None:
            report["errors"].append(at(record, "no_geometry", "geometry"))
        elif kind == "Point":
            points.append(record)
        elif kind not in ("Polygon", "MultiPolygon"):
            report["errors"].append(at(record, "geometry_type", "geometry", found=str(kind)[:30], kind="cells",
                                       expected="polygon"))
        elif not code:
            report["errors"].append(at(record, "required", source["columns"].get("external_id", "code")))
        else:
            polygon = parse_polygon(record, convert, report)
            if polygon is not None:
                pieces.setdefault(code, []).append((record, polygon))
    for record in points:
        code = record["values"].get("external_id", "")
        if truthy(record["values"].get("label_placement")):
            report["skipped"].append(at(record, "label"))
        elif code and code in pieces:
            report["skipped"].append(at(record, "label_of"))
        else:
            report["errors"].append(at(record, "geometry_type", "geometry", found="Point", kind="cells",
                                       expected="polygon"))
    cells = _merge(pieces, report)
    _check_overlaps(db, cells, report)
    _diff(db, cells, report)


def _merge(pieces, report):
    """One cell per code: pieces of the same code united, the first name and grid found kept."""
    cells = []
    for code, found in pieces.items():
        geometry = found[0][1] if len(found) == 1 else shapely.unary_union([g for _r, g in found])
        if len(found) > 1:
            report["notes"].append(problem("merged_pieces", id=code, n=len(found)))
        values = [record["values"] for record, _g in found]
        cells.append({"code": code, "record": found[0][0], "geometry": geometry,
                      "name": next((v["name"] for v in values if v.get("name")), ""),
                      "grid_code": next((v["grid_code"] for v in values if v.get("grid_code")), ""),
                      "grid_name": next((v["grid_name"] for v in values if v.get("grid_name")), "")})
    return cells


def _check_overlaps(db, cells, report):
    """Report every file cell that overlaps another cell of the file or of the database."""
    in_file = {cell["code"] for cell in cells}
    others = [{"code": c["code"], "record": None, "geometry": shape(json.loads(c["geometry"]))}
              for c in geodata.cells(db) if c["code"] not in in_file]
    everything = cells + others
    geometries = [cell["geometry"] for cell in everything]
    tree = shapely.STRtree(geometries)
    first, second = tree.query(geometries, predicate="intersects")
    for i, j in zip(first.tolist(), second.tolist()):
        if i >= j or (everything[i]["record"] is None and everything[j]["record"] is None):
            continue
        common = area_m2(geometries[i].intersection(geometries[j]))
        if common > OVERLAP_M2:
            mine, other = (everything[i], everything[j]) if everything[i]["record"] else (everything[j], everything[i])
            report["errors"].append(at(mine["record"], "overlap", "geometry", other=other["code"],
                                       area=f"{common:,.0f}"))


def _diff(db, cells, report):
    """Count adds, updates and unchanged cells against the database and put the changes in the plan."""
    existing = {c["code"]: c for c in geodata.cells(db)}
    grid_ids = geodata.grids(db)
    new_grids, unnamed, ungridded, changes = {}, 0, 0, []
    for cell in cells:
        before = existing.get(cell["code"])
        name = cell["name"] or (before["name"] if before else cell["code"])
        unnamed += not cell["name"] and not before
        grid_code = cell["grid_code"] or (before["grid_code"] if before else geodata.DEFAULT_GRID[0])
        ungridded += not cell["grid_code"] and not before
        if grid_code not in grid_ids and grid_code not in new_grids:
            default = grid_code == geodata.DEFAULT_GRID[0]
            new_grids[grid_code] = cell["grid_name"] or (geodata.DEFAULT_GRID[1] if default else grid_code)
            if not default:
                report["notes"].append(problem("new_grid", code=grid_code))
        text = geojson_text(cell["geometry"])
        if before and before["name"] == name and before["grid_code"] == grid_code \
                and same_geojson(before["geometry"], text):
            report["unchanged"] += 1
            continue
        report["update" if before else "add"] += 1
        min_lon, min_lat, max_lon, max_lat = cell["geometry"].bounds
        changes.append({"code": cell["code"], "name": name, "grid_code": grid_code, "geometry": text,
                        "min_lon": min_lon, "min_lat": min_lat, "max_lon": max_lon, "max_lat": max_lat})
    if unnamed:
        report["notes"].append(problem("named_by_id", n=unnamed))
    if ungridded:
        report["notes"].append(problem("default_grid", n=ungridded, code=geodata.DEFAULT_GRID[0]))
    report["plan"] = {"new_grids": list(new_grids.items()), "cells": changes}
