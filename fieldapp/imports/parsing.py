"""What the planners share: a record's point or polygon read and checked, columns named as the file names
them, and geometries compared as the database keeps them."""
import json
import math
import re

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from fieldapp.geo import gcj02_to_wgs84
from fieldapp.imports.problems import at

SAME_POINT = 1e-7  # degrees, about a centimetre: coordinates are kept to seven decimals
M_PER_DEGREE = 111_320.0


def converter(crs):
    """A function turning input coordinates into WGS-84, or None when they are WGS-84 already."""
    return gcj02_to_wgs84 if crs == "gcj02" else None


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
            report["errors"].append(at(record, "swapped_range", _field(source, geometry, "latitude"), lat=shown(lat)))
        elif not -180 <= lon <= 180:
            report["errors"].append(at(record, "lon_range", _field(source, geometry, "longitude"), value=shown(lon)))
        else:
            report["errors"].append(at(record, "lat_range", _field(source, geometry, "latitude"), value=shown(lat)))
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


def shown(number):
    """A coordinate for a message."""
    return f"{number:.6f}".rstrip("0").rstrip(".")


def parse_polygon(record, convert, report):
    """The record's (Multi)Polygon as a valid shapely geometry in WGS-84, or None after reporting why not."""
    try:
        geometry = shape(record["geometry"])
        coordinates = shapely.get_coordinates(geometry)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError,
            shapely.errors.GEOSException):
        report["errors"].append(at(record, "bad_coordinates", "geometry"))
        return None
    if not len(coordinates) or not np.isfinite(coordinates).all():
        report["errors"].append(at(record, "bad_coordinates", "geometry"))
        return None
    lons, lats = coordinates[:, 0], coordinates[:, 1]
    if (np.abs(lons) > 180).any() or (np.abs(lats) > 90).any():
        if (np.abs(lats) <= 180).all() and (np.abs(lons) <= 90).all():
            report["errors"].append(at(record, "swapped_range", "geometry", lat=shown(lats[np.abs(lats) > 90][0])))
        elif (np.abs(lons) > 180).any():
            report["errors"].append(at(record, "lon_range", "geometry", value=shown(lons[np.abs(lons) > 180][0])))
        else:
            report["errors"].append(at(record, "lat_range", "geometry", value=shown(lats[np.abs(lats) > 90][0])))
        return None
    if convert:
        geometry = shapely.transform(geometry, lambda xy: np.array([convert(x, y) for x, y in xy]))
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        found = re.match(r"Self-intersection\[([-\d.e]+) ([-\d.e]+)\]", reason)
        if found:
            report["errors"].append(at(record, "self_intersection", "geometry",
                                       lon=shown(float(found.group(1))), lat=shown(float(found.group(2)))))
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
