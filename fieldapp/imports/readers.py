"""Read an import file (GeoJSON, CSV in UTF-8 or GBK/GB18030, Excel .xlsx) into numbered records.

Pure: bytes in, records and problems out. What the records mean is the planners' business.
"""
import codecs
import csv
import io
import json
import operator
import posixpath
import re
import zipfile
import zlib
from xml.etree import ElementTree

import geojson
from geojson.geometry import check_point

from fieldapp.exports.tables import unguard
from fieldapp.imports.problems import Refused, at, problem

LIMIT_MB = 45  # refused before reading; a 100,000-household GeoJSON export (about 42 MB) still fits
# An .xlsx is a zip: 45 MB of it can unpack to gigabytes. The 100,000 households of a sub-district with one
# row per resident (220,000 rows, 2.8 million cells) unpack to 123 MB; these bounds leave room for Excel's styles.
XLSX_UNPACKED_MB = 250  # the members' sizes together, as the zip declares them (zipfile reads no more)
XLSX_ROWS = 300_000  # rows in one sheet
XLSX_CELLS = 5_000_000  # cells in the workbook, and the extent (rows x columns) of one sheet
HEADER_SEARCH_ROWS = 10  # a spreadsheet may carry a title above its header

# What a file's content looks like, by its first bytes.
ZIP, OLE, JSON, TEXT, BINARY = "xlsx", "xls", "json", "csv", "binary"
EXTENSIONS = {".geojson": JSON, ".json": JSON, ".csv": TEXT, ".txt": TEXT, ".xlsx": ZIP, ".xls": OLE}
# The geometries whose coordinates the geojson library checks (a collection's members it cannot build).
GEOMETRIES = {"Point": geojson.Point, "MultiPoint": geojson.MultiPoint, "LineString": geojson.LineString,
              "MultiLineString": geojson.MultiLineString, "Polygon": geojson.Polygon,
              "MultiPolygon": geojson.MultiPolygon}


def sniff(content):
    """The format the content has, whatever the file is called."""
    head = content[:8]
    if head.startswith(b"PK\x03\x04"):
        return ZIP
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return OLE
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return TEXT
    if b"\x00" in content[:4096]:
        return BINARY
    stripped = content[:4096].lstrip(codecs.BOM_UTF8).lstrip()
    return JSON if stripped[:1] in (b"{", b"[") else TEXT


def detect_format(content, filename):
    """The format to read, refusing a file whose content is not what its name says."""
    if not content.strip():
        raise Refused(problem("empty"))
    actual = sniff(content)
    if actual == OLE:
        raise Refused(problem("xls_old"))
    if actual == BINARY:
        raise Refused(problem("binary", filename=filename))
    match = re.search(r"\.[A-Za-z]+$", filename or "")
    claimed = EXTENSIONS.get(match.group(0).lower()) if match else None
    if claimed and claimed != actual:
        raise Refused(problem("format_mismatch", filename=filename, claimed=claimed, actual=actual))
    return actual


def decode_text(content):
    """Decode CSV bytes: a BOM says UTF-8/16; else strict UTF-8; else GB18030 (a superset of GBK)."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if content.startswith(bom):
            return content.decode(encoding), "UTF-8" if encoding == "utf-8-sig" else "UTF-16"
    try:
        return content.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("gb18030"), "GBK/GB18030"
    except UnicodeDecodeError as error:
        raise Refused(problem("not_text", position=error.start)) from None


def normalise_header(name):
    """A column name as the alias tables know it: lower case, no spaces, '-' and ' ' as '_'."""
    return re.sub(r"[\s\-]+", "_", str(name or "").strip().lower()).strip("_")


def cell_text(value):
    """A cell's or property's value as text: integral floats without '.0', None as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def read_csv(content, aliases):
    """Records of a CSV file (header in its first line); returns (records, header map, notes)."""
    text, encoding = decode_text(content)
    try:  # only the delimiter: Excel's quoting ("" inside quotes) holds whatever the header looks like
        delimiter = csv.Sniffer().sniff(text[:8192].split("\n", 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        table = list(reader)
    except csv.Error as error:  # a cell longer than the csv module's limit (128 KB), a stray NUL
        raise Refused(problem("csv_unreadable", row=reader.line_num, detail=str(error)[:200])) from None
    if "'" in text:  # an export's formula guard may have quoted cells
        table = [[unguard(value) for value in row] for row in table]
    records, header = _records_from_table(table, aliases, first_row=1)
    return records, header, [problem("encoding", encoding=encoding)]


# A row or cell element of a worksheet, with or without a namespace prefix (<row r="2">, <x:c r="A2"/>).
ROW_OR_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,30}:)?(row|c)(?=[\s/>])")


def check_xlsx_size(content):
    """Refuse a workbook that would unpack past XLSX_UNPACKED_MB or hold too many rows or cells, before
    openpyxl reads it: the zip's declared sizes first, then its XML parts streamed and counted."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = archive.infolist()
        unpacked = sum(member.file_size for member in members)
        if unpacked > XLSX_UNPACKED_MB * 1024 * 1024:
            raise Refused(problem("xlsx_unpacked", size=f"{unpacked / 1048576:,.0f}", limit=XLSX_UNPACKED_MB))
        cells = 0
        for member in members:
            if not member.filename.endswith(".xml"):
                continue
            rows, found = _count_rows_and_cells(archive, member, XLSX_CELLS - cells)
            cells += found
            if rows > XLSX_ROWS:
                raise Refused(problem("xlsx_rows", sheet=_sheet_titles(archive).get(member.filename, member.filename),
                                      limit=f"{XLSX_ROWS:,}"))
            if cells > XLSX_CELLS:
                raise Refused(problem("xlsx_cells", limit=f"{XLSX_CELLS:,}"))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, OSError, EOFError) as error:
        raise Refused(problem("xlsx_unreadable", detail=str(error)[:200])) from None


def _count_rows_and_cells(archive, member, most_cells):
    """How many row and cell elements an XML part holds, streamed; the count stops soon past most_cells."""
    rows = cells = 0
    rest = b""
    with archive.open(member) as part:
        while True:
            chunk = part.read(1 << 20)
            text = rest + chunk
            # An element begun in the last bytes may be cut off: it waits for the next chunk.
            cut = text.rfind(b"<", max(0, len(text) - 64)) if chunk else -1
            cut = len(text) if cut < 0 else cut
            found = ROW_OR_CELL.findall(text, 0, cut)
            rest = text[cut:]
            counted = found.count(b"c")
            cells += counted
            rows += len(found) - counted
            if not chunk or cells > most_cells or rows > XLSX_ROWS:
                return rows, cells


def _sheet_titles(archive):
    """The name each worksheet part has in the workbook (xl/worksheets/sheet2.xml: 居民), where it can be read."""
    try:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        links = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return {}

    def part(target):
        """The zip member a relationship's target names (relative to xl/, or absolute)."""
        return target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))

    targets = {link.get("Id"): part(link.get("Target", "")) for link in links}
    return {targets.get(value): sheet.get("name") for sheet in book.iter() if sheet.tag.endswith("}sheet")
            for key, value in sheet.attrib.items() if key.endswith("}id")}


def read_xlsx(content, aliases, extra_sheets=()):
    """Records of an .xlsx workbook's first sheet, and the rows of named extra sheets (e.g. residents)."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    check_xlsx_size(content)
    try:
        # Not read-only: only a full workbook knows its merged cells.
        workbook = load_workbook(io.BytesIO(content), data_only=True)
    except (InvalidFileException, KeyError, ValueError, OSError, zipfile.BadZipFile, zlib.error) as error:
        raise Refused(problem("xlsx_unreadable", detail=str(error)[:200])) from None
    for sheet in workbook.worksheets:
        check_extent(sheet)
    sheet = workbook.worksheets[0]
    table = [[unguard(cell_text(value)) for value in row] for row in sheet.iter_rows(values_only=True)]
    header_index = find_header(table, aliases)
    merged = [str(rng) for rng in sheet.merged_cells.ranges
              if rng.min_row <= header_index + 1 <= rng.max_row]
    if merged:
        raise Refused(problem("merged_header", cells=", ".join(merged), row=header_index + 1))
    records, header = _records_from_table(table, aliases, first_row=1)
    extras = {}
    for name, sheet_aliases in extra_sheets:
        found = [ws for ws in workbook.worksheets[1:] if ws.title.strip().lower() in name]
        if found:
            rows = [[unguard(cell_text(value)) for value in row] for row in found[0].iter_rows(values_only=True)]
            extras[name[0]] = _records_from_table(rows, sheet_aliases, first_row=1, sheet=found[0].title)
    return records, header, extras, []


def check_extent(sheet):
    """Refuse a sheet whose rectangle of rows and columns is too large to walk: a single cell far out
    (XFD1048576) makes a sheet of millions of empty cells."""
    from openpyxl.utils import get_column_letter

    if sheet.max_row > XLSX_ROWS:
        raise Refused(problem("xlsx_rows", sheet=sheet.title, limit=f"{XLSX_ROWS:,}"))
    if sheet.max_row * sheet.max_column > XLSX_CELLS:
        raise Refused(problem("xlsx_extent", sheet=sheet.title, corner=f"{get_column_letter(sheet.max_column)}"
                              f"{sheet.max_row}", limit=f"{XLSX_CELLS:,}"))


def find_header(table, aliases):
    """Index of the header row: the first of the first rows naming at least two known columns."""
    for index, row in enumerate(table[:HEADER_SEARCH_ROWS]):
        known = sum(1 for value in row if normalise_header(value) in aliases)
        if known >= 2 or (known == 1 and sum(1 for value in row if cell_text(value)) == 1):
            return index
    raise Refused(problem("no_header", rows=HEADER_SEARCH_ROWS))


def _records_from_table(table, aliases, first_row, sheet=None):
    """Turn rows of text (header found among the first rows) into records numbered as the spreadsheet shows them."""
    header_index = find_header(table, aliases)
    header = {}  # canonical name -> column index and the name as written in the file
    for column, value in enumerate(table[header_index]):
        canonical = aliases.get(normalise_header(value))
        if canonical and canonical not in header:
            header[canonical] = (column, cell_text(value))
    records = []
    for index in range(header_index):
        if "".join(table[index]).strip():
            records.append({"where": "row", "n": first_row + index, "sheet": sheet, "skip": "title_row"})
    names = list(header)
    positions = [column for column, _label in header.values()]
    width = max(positions, default=0) + 1
    pick = operator.itemgetter(*positions) if len(positions) > 1 else (lambda row: (row[positions[0]],))
    for index in range(header_index + 1, len(table)):
        row = table[index]
        number = first_row + index
        if not "".join(row).strip():
            records.append({"where": "row", "n": number, "sheet": sheet, "skip": "empty_row"})
            continue
        if len(row) < width:
            row = row + [""] * (width - len(row))
        values = dict(zip(names, map(str.strip, pick(row)))) if positions else {}
        records.append({"where": "row", "n": number, "sheet": sheet, "values": values, "geometry": None,
                        "raw": {}})
    return records, {name: label for name, (_column, label) in header.items()}


def read_geojson(content, aliases):
    """Records of a GeoJSON FeatureCollection (or a single Feature); returns (records, header, notes)."""
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise Refused(problem("not_utf8_json")) from None
    except json.JSONDecodeError as error:
        raise Refused(problem("bad_json", line=error.lineno, column=error.colno, detail=error.msg)) from None
    except RecursionError:
        raise Refused(problem("too_deep")) from None
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = {"type": "FeatureCollection", "features": [data]}
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" \
            or not isinstance(data.get("features"), list):
        raise Refused(problem("not_geojson"))
    crs = ((data.get("crs") or {}).get("properties") or {}).get("name", "")
    if crs and not re.search(r"CRS84|EPSG:?:?4326|WGS.?84", crs, re.I):
        raise Refused(problem("foreign_crs", crs=str(crs)[:80]))
    records, seen = [], {}
    for number, feature in enumerate(data["features"], start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            record = {"where": "feature", "n": number, "values": {}, "geometry": None, "raw": {}}
            records.append({**record, "problem": at(record, "not_a_feature")})
            continue
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            properties = {}
        values = {}
        for key, value in properties.items():
            canonical = aliases.get(normalise_header(key))
            if canonical and canonical not in values:
                values[canonical] = value if isinstance(value, list) else cell_text(value)
                seen.setdefault(canonical, key)
        if "id" in feature and not values.get("external_id"):
            values["external_id"] = cell_text(feature["id"])
            seen.setdefault("external_id", "id")
        record = {"where": "feature", "n": number, "values": values, "geometry": feature.get("geometry"),
                  "raw": properties}
        broken = broken_rule(record["geometry"])
        if broken:
            named = {"id": values["external_id"]} if values.get("external_id") else {}
            record["problem"] = at(record, "invalid_geojson_id" if named else "invalid_geojson", "geometry",
                                   type=record["geometry"]["type"], rule=broken, **named)
        records.append(record)
    return records, seen, []


def broken_rule(geometry):
    """The first rule of GeoJSON that a geometry breaks, as the geojson library words it, or None.

    A geometry the library cannot build (an unknown type, a coordinate that is text) is left to the
    planners, which name the value that is wrong.
    """
    if not isinstance(geometry, dict) or geometry.get("type") not in GEOMETRIES:
        return None
    coordinates = geometry.get("coordinates")
    if geometry["type"] == "Point" and check_point(coordinates) is None:
        return None  # Point.errors()'s own check, without building the object: 1.5 s less for 100,000 households
    try:
        errors = GEOMETRIES[geometry["type"]](coordinates).errors()
    except (TypeError, ValueError, RecursionError):
        return None
    if isinstance(errors, list):
        return errors[0] if errors else None
    return errors
