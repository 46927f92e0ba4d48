"""Plan a households import: each household at its own point or its building's, in the cell holding it."""
import re

from fieldapp.data import geodata
from fieldapp.imports.parsing import SAME_POINT, field_name, parse_point
from fieldapp.imports.placing import CellLocator
from fieldapp.imports.problems import at, problem

OCCUPANCY = {"occupied": "occupied", "在住": "occupied", "vacant": "vacant", "空置": "vacant",
             "moved_out": "moved_out", "迁出": "moved_out", "已迁出": "moved_out"}
RESIDENT_COLUMNS = ("resident_name", "resident_phone", "resident_tags")
TAG_SEPARATORS = re.compile(r"[,，、;；|/\s]+")


def plan(db, source, records, convert, report):
    """Fill report with the households of records: counts, problems and the plan to write."""
    buildings = geodata.buildings(db)
    tag_ids = _tag_lookup(geodata.tags(db))
    people = source["format"] == "json" or any(c in source["columns"] for c in RESIDENT_COLUMNS)
    households, first, dropped = [], {}, 0
    for record in records:
        household = _household(source, record, convert, tag_ids if people else None, report)
        if household is None:
            continue
        external_id = household["external_id"]
        if external_id in first:
            earlier = first[external_id]
            # A roster lists people: one row per resident, the household's columns repeated.
            if household["residents"] and _same_household(earlier, household):
                earlier["residents"].extend(household["residents"])
            else:
                report["errors"].append(at(record, "duplicate", field_name(source, "external_id"),
                                           value=external_id, first=at(earlier["record"], "first")))
            continue
        first[external_id] = household
        if household["building"]:
            building = buildings.get(household["building"])
            if building is None:
                report["errors"].append(at(record, "unknown_building", field_name(source, "building"),
                                           value=household["building"]))
                continue
            household["building_row"] = building
            point = household["point"]
            if point and abs(point[0] - building["lon"]) < SAME_POINT and abs(point[1] - building["lat"]) < SAME_POINT:
                household["point"] = None  # the building's point, repeated: not a point of its own
                dropped += 1
        elif household["point"] is None:
            report["errors"].append(at(record, "no_point", field_name(source, "longitude")))
            continue
        households.append(household)
    _add_resident_sheet(source, first, tag_ids, report)
    placed = _place(db, source, households, report)
    _diff(db, placed, report)
    if dropped:
        report["notes"].append(problem("own_point_dropped", n=dropped))


def _tag_lookup(tags):
    """Tag ids by code and by Chinese label."""
    lookup = {}
    for tag in tags:
        lookup[tag["code"].lower()] = tag["id"]
        lookup[tag["label"]] = tag["id"]
    return lookup


def _household(source, record, convert, tag_ids, report):
    """One row or feature as a household to place, or None after reporting its problems."""
    values = record["values"]
    errors_before = len(report["errors"])
    geometry = record["geometry"]
    if geometry is not None and (not isinstance(geometry, dict) or geometry.get("type") != "Point"):
        found = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        report["errors"].append(at(record, "geometry_type", "geometry", found=str(found)[:30], kind="households",
                                   expected="household_point"))
        return None
    if not values.get("external_id"):
        report["errors"].append(at(record, "required", field_name(source, "external_id")))
    point = parse_point(source, record, convert, report)
    if not values.get("address"):
        report["errors"].append(at(record, "required", field_name(source, "address")))
    occupancy = values.get("occupancy", "")
    if occupancy and occupancy.lower() not in OCCUPANCY:
        report["errors"].append(at(record, "bad_occupancy", field_name(source, "occupancy"), value=occupancy))
    residents = _residents(source, record, values, tag_ids, report) if tag_ids is not None else []
    if len(report["errors"]) > errors_before or point is False:
        return None
    building, unit, room = values.get("building", ""), values.get("unit", ""), values.get("room", "")
    occupancy = OCCUPANCY.get(occupancy.lower()) if occupancy else None
    return {"record": record, "external_id": values["external_id"], "building": building, "unit": unit,
            "room": room, "address": values["address"], "occupancy": occupancy, "point": point,
            "hint": values.get("cell_code", ""), "residents": residents, "building_row": None,
            "signature": (building, unit, room, values["address"], occupancy, point)}


def _residents(source, record, values, tag_ids, report):
    """The residents a row names (columns) or a feature lists (property residents), checked."""
    listed = values.get("residents")
    if isinstance(listed, list):
        people = [p for p in listed if isinstance(p, dict)]
        if len(people) != len(listed):
            report["errors"].append(at(record, "bad_residents", "residents"))
        people = [{"name": str(p.get("name") or "").strip(), "phone": str(p.get("phone") or "").strip(),
                   "tags": ",".join(p["tags"]) if isinstance(p.get("tags"), list) else str(p.get("tags") or "")}
                  for p in people]
    elif listed:
        report["errors"].append(at(record, "bad_residents", "residents"))
        return []
    else:
        person = {"name": values.get("resident_name", ""), "phone": values.get("resident_phone", ""),
                  "tags": values.get("resident_tags", "")}
        people = [person] if person["name"] or person["phone"] or person["tags"] else []
    checked = []
    for person in people:
        if not person["name"]:
            report["errors"].append(at(record, "required", field_name(source, "resident_name")))
            continue
        ids = []
        for tag in filter(None, TAG_SEPARATORS.split(person["tags"]) if person["tags"] else ()):
            tag_id = tag_ids.get(tag) or tag_ids.get(tag.lower())
            if tag_id is None:
                report["errors"].append(at(record, "unknown_tag", field_name(source, "resident_tags"), value=tag))
            else:
                ids.append(tag_id)
        checked.append({"name": person["name"], "phone": person["phone"],
                        "tag_ids": sorted(set(ids)) if len(ids) > 1 else ids})
    return checked


def _same_household(one, other):
    """Whether two rows describe the same household (apart from the resident on each)."""
    return one["signature"] == other["signature"]


def _add_resident_sheet(source, households, tag_ids, report):
    """Add the residents listed on a workbook's residents sheet to their households."""
    sheet = source["extras"].get("residents")
    if not sheet:
        return
    records, columns = sheet
    sheet_source = {"columns": columns, "format": "xlsx"}
    for record in records:
        if record.get("skip"):
            continue
        key = record["values"].get("household", "")
        household = households.get(key)
        if household is None:
            report["errors"].append(at(record, "unknown_household", field_name(sheet_source, "household"), value=key))
            continue
        household["residents"].extend(_residents(sheet_source, record, record["values"], tag_ids, report))


def _place(db, source, households, report):
    """Each household's cell: the cell holding its own point, else its building's cell."""
    cells = geodata.cells(db)
    codes = {c["id"]: c["code"] for c in cells}
    own = [h for h in households if h["point"]]
    field = "geometry" if source["format"] == "json" else field_name(source, "longitude")
    placed = CellLocator(cells).place([h["record"] for h in own], [h["point"] for h in own],
                                      [h["hint"] for h in own], report, field)
    for household, cell in zip(own, placed):
        household["cell_id"] = cell["id"] if cell else None
    for household in households:
        if household["point"]:
            continue
        building = household["building_row"]
        household["cell_id"] = building["cell_id"]
        if household["hint"] and household["hint"] != codes[building["cell_id"]]:
            report["errors"].append(at(household["record"], "other_cell", field_name(source, "cell_code"),
                                       found=codes[building["cell_id"]], given=household["hint"]))
            household["cell_id"] = None
    return [h for h in households if h["cell_id"] is not None]


def _diff(db, households, report):
    """Count adds, updates and unchanged households and put the changes in the plan."""
    existing = geodata.households(db)
    with_residents = any(h["residents"] for h in households)
    residents_before = geodata.residents_by_household(db) if with_residents else {}
    tag_codes = {tag["id"]: tag["code"] for tag in geodata.tags(db)}
    changes, residents = [], {}
    for household in households:
        before = existing.get(household["external_id"])
        building = household["building_row"]
        lon, lat = household["point"] or (None, None)
        row = {"external_id": household["external_id"], "cell_id": household["cell_id"],
               "building_id": building["id"] if building else None, "unit": household["unit"] or None,
               "room": household["room"] or None, "address": household["address"], "lon": lon, "lat": lat,
               "occupancy": household["occupancy"] or (before["occupancy"] if before else "occupied")}
        people_changed = bool(household["residents"]) and (before is None or _residents_changed(
            residents_before.get(before["id"], []), household["residents"], tag_codes))
        if before and not people_changed and _same_row(before, row):
            report["unchanged"] += 1
            continue
        report["update" if before else "add"] += 1
        changes.append(row)
        if people_changed:
            residents[household["external_id"]] = household["residents"]
    report["plan"] = {"households": changes, "residents": residents}


def _same_row(before, row):
    """Whether a stored household already holds row's values."""
    for key in ("cell_id", "building_id", "unit", "room", "address", "occupancy"):
        if before[key] != row[key]:
            return False
    for key in ("lon", "lat"):
        if (before[key] is None) != (row[key] is None):
            return False
        if row[key] is not None and abs(before[key] - row[key]) >= SAME_POINT:
            return False
    return True


def _residents_changed(before, people, tag_codes):
    """Whether the file's residents add someone or change a known resident's phone or tags."""
    known = {r["name"]: (r["phone"] or "", set((r["tags"] or "").split(",")) - {""}) for r in before}
    for person in people:
        tags = {tag_codes[t] for t in person["tag_ids"]}
        if known.get(person["name"]) != (person["phone"] or "", tags):
            return True
    return False
