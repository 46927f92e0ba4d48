"""Pure geometry: GCJ-02 (the shifted datum of Chinese web maps), cell outlines, the map's data in columns.

Stored coordinates are always WGS-84. GCJ-02 is what AutoNavi/Gaode tiles are drawn in: a point must
be shifted by wgs84_to_gcj02 before it is drawn on them, and never stored shifted.
"""
import json
import math

# The Krasovsky 1940 ellipsoid that the published GCJ-02 algorithm uses.
_A = 6378245.0
_EE = 0.00669342162296594323


def out_of_china(lon, lat):
    """Whether a point lies outside the rough box where GCJ-02 applies (such points are not shifted)."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _shift_lat(x, y):
    """The latitude part of the GCJ-02 offset polynomial (x, y relative to 105 E, 35 N)."""
    shift = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    shift += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    shift += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    shift += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return shift


def _shift_lon(x, y):
    """The longitude part of the GCJ-02 offset polynomial (x, y relative to 105 E, 35 N)."""
    shift = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    shift += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    shift += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    shift += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return shift


def gcj02_offset(lon, lat):
    """The (dlon, dlat) in degrees that GCJ-02 adds to the WGS-84 point lon, lat."""
    if out_of_china(lon, lat):
        return 0.0, 0.0
    dlat = _shift_lat(lon - 105.0, lat - 35.0)
    dlon = _shift_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat):
    """The GCJ-02 position of a WGS-84 point (unchanged outside China)."""
    dlon, dlat = gcj02_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, tolerance=1e-9):
    """The WGS-84 point whose GCJ-02 position is lon, lat (iterated to well under a centimetre)."""
    if out_of_china(lon, lat):
        return lon, lat
    wgs_lon, wgs_lat = lon, lat
    for _ in range(30):
        shifted_lon, shifted_lat = wgs84_to_gcj02(wgs_lon, wgs_lat)
        error_lon, error_lat = shifted_lon - lon, shifted_lat - lat
        wgs_lon, wgs_lat = wgs_lon - error_lon, wgs_lat - error_lat
        if abs(error_lon) < tolerance and abs(error_lat) < tolerance:
            break
    return wgs_lon, wgs_lat


def polygon_problem(text):
    """Why a stored cell outline (GeoJSON text, WGS-84) cannot be drawn, or None if it is a valid polygon."""
    try:
        geometry = json.loads(text)
    except (TypeError, ValueError):
        return "not JSON"
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return "not a Polygon or MultiPolygon"
    polygons = geometry.get("coordinates")
    if geometry["type"] == "Polygon":
        polygons = [polygons]
    if not isinstance(polygons, list) or not polygons:
        return "no coordinates"
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            return "a polygon without rings"
        for ring in polygon:
            problem = _ring_problem(ring)
            if problem:
                return problem
    from shapely.geometry import shape  # slow to import; only needed once the structure is sound

    shaped = shape(geometry)
    if not shaped.is_valid:
        from shapely.validation import explain_validity

        return explain_validity(shaped)
    return None


def _ring_problem(ring):
    """Why a linear ring is not one (too short, not closed, not lon/lat numbers), or None."""
    if not isinstance(ring, list) or len(ring) < 4:
        return "a ring with fewer than 4 positions"
    for position in ring:
        if (not isinstance(position, list) or len(position) < 2
                or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in position[:2])):
            return "a position that is not a pair of numbers"
        if not (-180 <= position[0] <= 180 and -90 <= position[1] <= 90):
            return "a position outside longitude/latitude range (lat/lon swapped?)"
    if ring[0][:2] != ring[-1][:2]:
        return "a ring that is not closed"
    return None


# Map coordinates travel as integers of a millionth of a degree (about 0.1 m), each the difference from the one
# before: a district's 17,000 points are a few hundred kilobytes of small numbers, which gzip well.
SCALE = 1_000_000

# The cells' outlines per zoom band: (lowest zoom of the band, tolerance in drawn degrees). A band's tolerance is
# half a pixel of Leaflet's 256-px tiles at its highest zoom, so no simplified edge is drawn a pixel off; from
# zoom 15 on the outlines are the stored ones.
OUTLINE_BANDS = ((0, 0.5 * 360 / (256 * 2 ** 12)), (13, 0.5 * 360 / (256 * 2 ** 14)), (15, 0.0))


def _deltas(values):
    """Integers as the first one and then each one's difference from the one before."""
    previous, out = 0, []
    for value in values:
        out.append(value - previous)
        previous = value
    return out


def _undeltas(values):
    """The integers that _deltas encoded."""
    total, out = 0, []
    for value in values:
        total += value
        out.append(total)
    return out


def _scaled(value):
    return round(value * SCALE)


def outline_bands(geometry, shift):
    """A cell's drawn outline per zoom band of OUTLINE_BANDS, coarsest first: each a list of polygons, each a list
    of rings, each ring [lons, lats] in SCALE units as deltas, without the closing position; None where the
    band's outline is the next finer band's.

    geometry: a valid GeoJSON Polygon or MultiPolygon (parsed), WGS-84; shift(lon, lat) maps it to the drawn
    datum before simplifying, so the tolerance is in drawn degrees. Topology is kept: a simplified outline stays
    a valid polygon.
    """
    from shapely.geometry import MultiPolygon, Polygon, shape

    def shifted(coordinates):
        if coordinates and isinstance(coordinates[0], (int, float)):
            return list(shift(coordinates[0], coordinates[1]))
        return [shifted(part) for part in coordinates]

    drawn = shape({"type": geometry["type"], "coordinates": shifted(geometry["coordinates"])})
    bands, finer = [], None
    for _zoom, tolerance in reversed(OUTLINE_BANDS):
        simple = drawn.simplify(tolerance, preserve_topology=True) if tolerance else drawn
        polygons = simple.geoms if isinstance(simple, MultiPolygon) else [simple] if isinstance(simple, Polygon) else []
        encoded = [[_ring(ring) for ring in (polygon.exterior, *polygon.interiors)] for polygon in polygons]
        bands.append(None if encoded == finer else encoded)
        finer = encoded
    return bands[::-1]


def _ring(ring):
    """A shapely ring as [lons, lats] deltas in SCALE units, its closing position left out (Leaflet closes
    rings)."""
    positions = list(ring.coords)[:-1]
    return [_deltas([_scaled(p[0]) for p in positions]), _deltas([_scaled(p[1]) for p in positions])]


def map_columns(cells, points, shift, members=None):
    """The map's data as JSON text of columns: the cells, then one point per building or standalone house.

    cells: dicts with id, code, name, occupied, visited, attempted and geometry (parsed) or its outline_bands
    already made (bands). points: dicts with kind
    ("b" building, "h" house), id, lon, lat and counts (households per status, most urgent first).
    shift(lon, lat) maps a stored WGS-84 position to the drawn one; it is applied here and nowhere else.
    members: more top-level entries, e.g. the order of the counts. static/js/map-worker.js reads it, and
    read_map_columns is its reference.

    Points: buildings by id, then houses by id; "buildings" says how many are buildings. id, lon and lat are
    deltas (lon/lat in SCALE units), counts flat (len(statuses) a point). Cells: a column per property, and
    "outlines" per band of OUTLINE_BANDS (lowest zooms in "zooms"), a cell's entry per band as outline_bands
    gives it.
    """
    ordered = sorted(points, key=lambda p: (p["kind"] != "b", p["id"]))
    drawn = [shift(p["lon"], p["lat"]) for p in ordered]
    bands = [cell["bands"] if "bands" in cell else outline_bands(cell["geometry"], shift) for cell in cells]
    document = {**(members or {}), "scale": SCALE, "cells": {
        **{name: [cell[name] for cell in cells] for name in ("id", "code", "name", "occupied", "visited", "attempted")},
        "zooms": [zoom for zoom, _tolerance in OUTLINE_BANDS],
        "outlines": [list(band) for band in zip(*bands)] if cells else [[] for _ in OUTLINE_BANDS]},
        "points": {"buildings": sum(1 for p in ordered if p["kind"] == "b"),
                   "id": _deltas([p["id"] for p in ordered]),
                   "lon": _deltas([_scaled(lon) for lon, _lat in drawn]),
                   "lat": _deltas([_scaled(lat) for _lon, lat in drawn]),
                   "counts": [n for p in ordered for n in p["counts"]]}}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def read_map_columns(document):
    """map_columns' JSON (parsed) read back as map-worker.js reads it: {"points": {"b5": {"lon", "lat", "n"}},
    "cells": {"c1": {"code", "name", "occupied", "visited", "attempted", "outlines": [per band: polygons of rings
    of (lon, lat)]}}}, degrees as drawn; a band that repeats the finer one is filled in."""
    scale = document["scale"]
    columns = document["points"]
    width = len(document["statuses"])
    ids, lons, lats = (_undeltas(columns[name]) for name in ("id", "lon", "lat"))
    points = {}
    for i, point_id in enumerate(ids):
        kind = "b" if i < columns["buildings"] else "h"
        points[f"{kind}{point_id}"] = {"lon": lons[i] / scale, "lat": lats[i] / scale,
                                       "n": columns["counts"][i * width:(i + 1) * width]}
    cells = {}
    table = document["cells"]
    for i, cell_id in enumerate(table["id"]):
        outlines, finer = [], None
        for band in reversed(table["outlines"]):
            polygons = band[i]
            if polygons is None:
                outlines.append(finer)
                continue
            finer = [[list(zip((x / scale for x in _undeltas(ring[0])), (y / scale for y in _undeltas(ring[1]))))
                      for ring in polygon] for polygon in polygons]
            outlines.append(finer)
        cells[f"c{cell_id}"] = {**{name: table[name][i] for name in ("code", "name", "occupied", "visited",
                                                                       "attempted")},
                                "outlines": outlines[::-1]}
    return {"points": points, "cells": cells}


def cell_outline(text, shift):
    """Why a stored cell outline (GeoJSON text) cannot be drawn (None if it can), and its outline_bands."""
    problem = polygon_problem(text)
    return problem, None if problem else outline_bands(json.loads(text), shift)


def map_collection(groups, cells, shift, statuses, members=None, outline=None):
    """The map's data from households grouped per cell and building or house (mapdata.point_groups) and
    the cells (with outline text): the map_columns text, the cells that cannot be drawn, how many
    households it shows and how many matched but have no point (unplaced). members: more top-level entries.
    outline(text): cell_outline of a cell's outline text drawn through shift (a caller may keep them: the
    outlines change far less often than the households' statuses)."""
    outline = outline or (lambda text: cell_outline(text, shift))
    points, coverage, unplaced = {}, {}, 0
    for group in groups:
        counts = group["counts"]
        cell = coverage.setdefault(group["cell_id"], [0, 0, 0])
        cell[0] += group["occupied"]
        cell[1] += group["visited"]
        cell[2] += group["attempted"]
        if not any(counts):
            continue
        if group["lon"] is None:
            unplaced += sum(counts)
            continue
        # A building whose households lie in several cells is still one marker.
        kind, point_id = ("b", group["building_id"]) if group["building_id"] else ("h", group["house_id"])
        point = points.get((kind, point_id))
        if point is None:
            points[(kind, point_id)] = {"kind": kind, "id": point_id, "lon": group["lon"], "lat": group["lat"],
                                        "counts": list(counts)}
        else:
            point["counts"] = [a + b for a, b in zip(point["counts"], counts)]
    drawn, broken = [], []
    for cell in cells:
        problem, bands = outline(cell["geometry"])
        if problem:
            broken.append({"id": cell["id"], "code": cell["code"], "name": cell["name"], "problem": problem})
            continue
        occupied, visited, attempted = coverage.get(cell["id"], (0, 0, 0))
        drawn.append({**cell, "bands": bands, "occupied": occupied, "visited": visited, "attempted": attempted})
    shown = sum(sum(point["counts"]) for point in points.values())
    text = map_columns(drawn, points.values(), shift, {
        "statuses": list(statuses), "households": shown, "unplaced": unplaced,
        "brokenCells": [cell["code"] for cell in broken], **(members or {})})
    return {"text": text, "broken": broken, "households": shown, "unplaced": unplaced}
