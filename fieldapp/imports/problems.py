"""What an import found wrong, skipped or merged: codes with parameters, worded in the reader's language.

Problems are plain dicts ({"code", "params"}, plus where they were found), so that a preview can be
computed without a request and worded later, in Chinese on the page or English on a terminal.
"""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l


class Refused(Exception):
    """The whole file cannot be read; carries the problem that says why."""

    def __init__(self, found):
        """Refuse the file for the problem found."""
        super().__init__(found["code"])
        self.problem = found


def problem(code, /, **params):
    """A problem with code and its parameters."""
    return {"code": code, "params": params}


def at(record, code, field=None, /, **params):
    """A problem found in record (a row or feature), in field if given."""
    return {"code": code, "params": params, "where": record["where"], "n": record["n"],
            "sheet": record.get("sheet"), "field": field}


FORMATS = {"xlsx": _l("an Excel workbook (.xlsx)"), "xls": _l("an old Excel workbook (.xls)"),
           "json": _l("JSON (GeoJSON)"), "csv": _l("text (CSV)"), "binary": _l("binary data")}

MESSAGES = {
    # The whole file
    "too_large": _l("The file is too large (%(size)s MB): at most %(limit)d MB."),
    "empty": _l("The file is empty."),
    "binary": _l("%(filename)s is not a GeoJSON, CSV or Excel file."),
    "xls_old": _l("Old Excel workbooks (.xls) cannot be read: save the file as .xlsx."),
    "format_mismatch": _l("%(filename)s is named like %(claimed)s but holds %(actual)s."),
    "wrong_format": _l("%(kind)s cannot be imported from %(actual)s: use %(allowed)s."),
    "not_text": _l("The file is neither UTF-8 nor GBK/GB18030 text (unreadable byte at position %(position)d)."),
    "not_utf8_json": _l("GeoJSON must be UTF-8 text."),
    "bad_json": _l("The file is not valid JSON: line %(line)d, column %(column)d (%(detail)s)."),
    "not_geojson": _l("The file is JSON but not a GeoJSON FeatureCollection."),
    "too_deep": _l("The file nests its lists and objects too deeply to be read."),
    "foreign_crs": _l("The file declares the coordinate system %(crs)s: only WGS-84 or GCJ-02 longitude/latitude "
                      "can be read."),
    "xlsx_unreadable": _l("The Excel file cannot be read (%(detail)s)."),
    "csv_unreadable": _l("The CSV file cannot be read at line %(row)s (%(detail)s)."),
    "xlsx_unpacked": _l("The Excel file unpacks to %(size)s MB: at most %(limit)d MB can be read. "
                        "Split it into smaller files."),
    "xlsx_rows": _l("Sheet %(sheet)s has more than %(limit)s rows: at most that many can be imported at once. "
                    "Split it into smaller files."),
    "xlsx_cells": _l("The Excel file holds more than %(limit)s cells: at most that many can be read. "
                     "Split it into smaller files."),
    "xlsx_extent": _l("Sheet %(sheet)s reaches cell %(corner)s: at most %(limit)s cells (rows × columns) can be "
                      "read. Delete the rows and columns beyond the table."),
    "merged_header": _l("Header cells %(cells)s in row %(row)d are merged: give every column its own name "
                        "in one row."),
    "no_header": _l("No header row with the expected column names in the first %(rows)d rows."),
    "missing_column": _l("Required column missing: %(column)s."),
    "no_records": _l("The file holds no rows or features."),
    # One row or feature
    "not_a_feature": _l("Not a GeoJSON Feature."),
    "required": _l("Empty: a value is required."),
    "not_number": _l("“%(value)s” is not a number."),
    "lon_range": _l("Longitude %(value)s is outside -180…180."),
    "lat_range": _l("Latitude %(value)s is outside -90…90."),
    "swapped": _l("Longitude and latitude seem swapped: (%(lon)s, %(lat)s) lies far away, "
                  "(%(lat)s, %(lon)s) would be inside the cells."),
    "swapped_range": _l("Latitude %(lat)s is outside -90…90: are longitude and latitude swapped?"),
    "half_point": _l("Give both longitude and latitude, or neither."),
    "no_point": _l("No location: give longitude and latitude, or a building."),
    "unknown_building": _l("Unknown building “%(value)s”: import the buildings first."),
    "no_geometry": _l("The feature has no geometry."),
    "geometry_type": _l("Geometry %(found)s: %(kind)s need %(expected)s."),
    "bad_coordinates": _l("The coordinates cannot be read."),
    "self_intersection": _l("The polygon crosses itself near %(lon)s, %(lat)s."),
    "invalid_polygon": _l("The polygon is invalid: %(detail)s."),
    "invalid_geojson": _l("The %(type)s is not valid GeoJSON: %(rule)s."),
    "invalid_geojson_id": _l("The %(type)s of “%(id)s” is not valid GeoJSON: %(rule)s."),
    "empty_polygon": _l("The polygon has no area."),
    "overlap": _l("Overlaps cell %(other)s by about %(area)s m²."),
    "duplicate": _l("“%(value)s” appears more than once (first in %(first)s)."),
    "border": _l("The point lies on the border of cells %(cells)s: name one of them in the cell_code column."),
    "other_cell": _l("The point lies in cell %(found)s, not in %(given)s named in cell_code."),
    "unknown_cell": _l("Unknown cell “%(value)s”."),
    "unknown_household": _l("Unknown household “%(value)s”: not in the households sheet."),
    "unknown_tag": _l("Unknown tag “%(value)s”."),
    "bad_occupancy": _l("Unknown occupancy “%(value)s”: use occupied, vacant or moved_out."),
    "bad_residents": _l("residents must be a list of {name, phone, tags}."),
    # Hotline work orders
    "order_no": _l("“%(value)s” is not an order number: letters, digits, - and / only, at most %(n)d."),
    "order_exists": _l("Order %(value)s is already in the ledger (request %(request)d)."),
    "bad_time": _l("“%(value)s” is not a date and time such as 2026-12-01 09:30."),
    "future_time": _l("%(value)s lies in the future: an order cannot be received later than now."),
    "deadline_before": _l("The deadline %(value)s lies before the order was received."),
    "deadline_far": _l("The deadline %(value)s lies more than a year after the order was received."),
    "unknown_category": _l("Unknown category “%(value)s”: use one of %(known)s."),
    "too_long": _l("At most %(n)d characters."),
    "hotline_no_building": _l("No building “%(value)s” in your grid."),
    "hotline_ambiguous_building": _l("Several buildings are called “%(value)s”: give the building's id instead."),
    "hotline_no_household": _l("No household %(value)s in the register: check unit and room."),
    # Skipped rows and features
    "outside": _l("Outside every cell."),
    "label": _l("Label point (label_placement), not a feature of its own."),
    "label_of": _l("Point with the id of a polygon in this file: taken as its label."),
    "not_a_building": _l("Kind “%(value)s” is not a building."),
    "empty_row": _l("Empty row."),
    "title_row": _l("Above the header row (a title?): ignored."),
    # Notes
    "encoding": _l("Read as %(encoding)s text."),
    "merged_pieces": _l("%(id)s: %(n)d pieces with the same id merged into one."),
    "merged_parts": _l("%(id)s: building part merged into building %(root)s."),
    "named_by_id": _l("%(n)d without a name are named by their id."),
    "new_grid": _l("New grid %(code)s will be created."),
    "default_grid": _l("%(n)d cells without grid_code go into grid %(code)s."),
    "own_point_dropped": _l("%(n)d households at their building's point take the building's location."),
}


def describe(found):
    """The problem in the reader's language."""
    params = dict(found.get("params") or {})
    for key in ("claimed", "actual", "allowed"):
        if key in params:
            params[key] = str(FORMATS.get(params[key], params[key]))
    if "kind" in params:
        params["kind"] = str(KINDS.get(params["kind"], params["kind"]))
    for key, value in params.items():
        if isinstance(value, dict) and "where" in value:  # a place, worded like the preview's "where" column
            params[key] = where(value)
    if "expected" in params:
        params["expected"] = str(GEOMETRIES.get(params["expected"], params["expected"]))
    if "rule" in params:
        params["rule"] = str(GEOJSON_RULES.get(params["rule"], params["rule"]))
    return str(MESSAGES[found["code"]]) % params


def where(found):
    """Where a problem was found: 'Row 5', 'Feature 3', 'Sheet residents, row 4', or 'File'."""
    if "where" not in found:
        return _("File")
    place = _("Row %(n)d", n=found["n"]) if found["where"] == "row" else _("Feature %(n)d", n=found["n"])
    if found.get("sheet"):
        return _("Sheet %(sheet)s, %(place)s", sheet=found["sheet"], place=place)
    return place


KINDS = {"cells": _l("Cells"), "buildings": _l("Buildings"), "households": _l("Households and residents")}
GEOMETRIES = {"polygon": _l("Polygon or MultiPolygon"), "point": _l("Point, Polygon or MultiPolygon"),
              "household_point": _l("Point")}
# The geojson library's validity errors (geojson.geometry), worded for the reader; another is shown as it is.
GEOJSON_RULES = {
    "each position must be a list": _l("each position must be a list of numbers"),
    "a position must have exactly 2 or 3 values": _l("a position must have exactly 2 or 3 numbers "
                                                     "(longitude, latitude and an optional height)"),
    "a position cannot have inner positions": _l("a position holds numbers, not further lists"),
    "each line must be a list of positions": _l("each line must be a list of positions"),
    'the "coordinates" member must be an array of two or more positions': _l("a line needs two or more positions"),
    "Each polygon must be a list of linear rings": _l("a polygon must be a list of rings"),
    "Each element of a polygon's coordinates must be a list": _l("each ring of a polygon must be a list of "
                                                                  "positions"),
    "Each linear ring must contain at least 4 positions": _l("each ring needs at least 4 positions (the first "
                                                              "repeated at the end)"),
    "Each linear ring must end where it started": _l("each ring must end where it started (its last position "
                                                      "the same as its first)"),
}
