"""Pure geometry: GCJ-02 (the shifted datum of Chinese web maps), cell outlines, the map's GeoJSON.

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


def shift_rings(coordinates, shift):
    """Nested GeoJSON coordinates with every position passed through shift(lon, lat) and rounded."""
    if coordinates and isinstance(coordinates[0], (int, float)):
        lon, lat = shift(coordinates[0], coordinates[1])
        return [round(lon, 6), round(lat, 6)]
    return [shift_rings(part, shift) for part in coordinates]


def _number(value):
    """A coordinate as the shortest JSON text at 6 decimals (about 0.1 m)."""
    text = f"{value:.6f}".rstrip("0")
    return text[:-1] if text.endswith(".") else text


def map_geojson(cells, points, shift, members=None):
    """The map's FeatureCollection text: cell polygons, then one point per building or standalone house.

    cells: dicts with id, code, name, geometry (parsed), occupied, visited, attempted. points: dicts with kind
    ("b" building, "h" house), id, lon, lat and counts (households per status, most urgent first).
    shift(lon, lat) maps a stored WGS-84 position to the drawn one; it is applied here and nowhere else.
    members: foreign members of the collection (RFC 7946 section 6.1), e.g. the order of the counts.
    """
    parts = []
    for cell in cells:
        geometry = {"type": cell["geometry"]["type"],
                    "coordinates": shift_rings(cell["geometry"]["coordinates"], shift)}
        properties = {"code": cell["code"], "name": cell["name"], "occupied": cell["occupied"],
                      "visited": cell["visited"], "attempted": cell["attempted"]}
        parts.append(json.dumps({"type": "Feature", "id": f"c{cell['id']}", "geometry": geometry,
                                 "properties": properties}, ensure_ascii=False, separators=(",", ":")))
    for point in points:
        lon, lat = shift(point["lon"], point["lat"])
        counts = ",".join(str(n) for n in point["counts"])
        parts.append(f'{{"type":"Feature","id":"{point["kind"]}{point["id"]}","geometry":{{"type":"Point",'
                     f'"coordinates":[{_number(lon)},{_number(lat)}]}},"properties":{{"n":[{counts}]}}}}')
    head = json.dumps({"type": "FeatureCollection", **(members or {})}, ensure_ascii=False,
                      separators=(",", ":"))[:-1]
    return f'{head},"features":[{",".join(parts)}]}}'


def map_collection(groups, cells, shift, statuses):
    """The map's data from households grouped per cell and building or house (mapdata.point_groups) and
    the cells (with outline text): the FeatureCollection text, the cells that cannot be drawn, how many
    households it shows and how many matched but have no point (unplaced)."""
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
        point = points.setdefault((kind, point_id), {"kind": kind, "id": point_id, "lon": group["lon"],
                                                     "lat": group["lat"], "counts": [0] * len(counts)})
        point["counts"] = [a + b for a, b in zip(point["counts"], counts)]
    drawn, broken = [], []
    for cell in cells:
        problem = polygon_problem(cell["geometry"])
        if problem:
            broken.append({"id": cell["id"], "code": cell["code"], "name": cell["name"], "problem": problem})
            continue
        occupied, visited, attempted = coverage.get(cell["id"], (0, 0, 0))
        drawn.append({**cell, "geometry": json.loads(cell["geometry"]), "occupied": occupied, "visited": visited,
                      "attempted": attempted})
    shown = sum(sum(point["counts"]) for point in points.values())
    text = map_geojson(drawn, points.values(), shift, {
        "statuses": list(statuses), "households": shown, "unplaced": unplaced,
        "brokenCells": [cell["code"] for cell in broken]})
    return {"text": text, "broken": broken, "households": shown, "unplaced": unplaced}
