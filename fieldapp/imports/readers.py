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
from datetime import date, datetime, time
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
WHOLE = 2 ** 53  # a float's whole numbers are exact below this

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


# A row or cell element of a worksheet, with or without a namespace prefix (<row r="2">, <x:c r="A2"/>), and its
# attributes; a position's r attribute; a cell reference (A2, $AB$12).
ROW_OR_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,30}:)?(row|c)(?=[\s/>])([^>]*)")
POSITION = re.compile(rb"""(?:^|\s)r\s*=\s*(?:"([^"]*)"|'([^']*)')""")
REFERENCE = re.compile(rb"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")
PREFIXED = re.compile(rb":(?:row|c)[\s/>]")
LAST_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"')


def check_xlsx_size(content):
    """Refuse a workbook that would unpack past XLSX_UNPACKED_MB, hold too many rows or cells, or spread a sheet
    over too large a rectangle, before it is read: the zip's declared sizes first, then its XML parts streamed
    and counted. The reader fills every sheet's rectangle, so a single cell far out (XFD1048576) would make it
    allocate billions of empty cells. Returns each sheet's last row, by name."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = archive.infolist()
        unpacked = sum(member.file_size for member in members)
        if unpacked > XLSX_UNPACKED_MB * 1024 * 1024:
            raise Refused(problem("xlsx_unpacked", size=f"{unpacked / 1048576:,.0f}", limit=XLSX_UNPACKED_MB))
        cells, corners = 0, {}
        for member in members:
            if not member.filename.endswith(".xml"):
                continue
            rows, found, corner = _count_rows_and_cells(archive, member, XLSX_CELLS - cells)
            cells += found
            if rows > XLSX_ROWS:
                raise Refused(problem("xlsx_rows", sheet=_sheet_titles(archive).get(member.filename, member.filename),
                                      limit=f"{XLSX_ROWS:,}"))
            if cells > XLSX_CELLS:
                raise Refused(problem("xlsx_cells", limit=f"{XLSX_CELLS:,}"))
            if found:
                corners[member.filename] = corner
        titles = _sheet_titles(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, OSError, EOFError) as error:
        raise Refused(problem("xlsx_unreadable", detail=str(error)[:200])) from None
    for part, (row, column) in corners.items():
        if row > XLSX_ROWS:
            raise Refused(problem("xlsx_rows", sheet=titles.get(part, part), limit=f"{XLSX_ROWS:,}"))
        if row * column > XLSX_CELLS:
            raise Refused(problem("xlsx_extent", sheet=titles.get(part, part),
                                  corner=f"{column_letters(column)}{row}", limit=f"{XLSX_CELLS:,}"))
    return {titles.get(part, part): row for part, (row, _column) in corners.items()}


def _count_rows_and_cells(archive, member, most_cells):
    """How many row and cell elements an XML part holds and the far corner (row, column) of its cells, streamed;
    the count stops soon past most_cells or XLSX_ROWS."""
    position = [0, 0, 0, 0]  # the row and column last placed, the farthest row and column
    rows = cells = 0
    rest = b""
    with archive.open(member) as part:
        while True:
            chunk = part.read(1 << 20)
            text = rest + chunk
            # An element begun in the last bytes may be cut off: it waits for the next chunk.
            cut = text.rfind(b"<", max(0, len(text) - 64)) if chunk else -1
            cut = len(text) if cut < 0 else cut
            counted = _counted_as_written(text, cut, position) or _placed_one_by_one(text, cut, position)
            rest = text[cut:]
            rows += counted[0]
            cells += counted[1]
            if not chunk or cells > most_cells or rows > XLSX_ROWS or position[2] > XLSX_ROWS:
                return rows, cells, (position[2], position[3])


def _counted_as_written(text, cut, position):
    """(rows, cells) of a stretch that every writer leaves alike (each cell <c r="B7" ...>, no prefixes), when
    none of its cells lies past its last cell's row or past the columns seen so far; else None.
    Byte counts and one search: reading each reference would take longer than the reader itself."""
    text = text[:cut]
    cells = text.count(b"<c") - text.count(b"<col")  # <cols><col min="1" .../></cols> come before the rows
    if cells != text.count(b'<c r="') or PREFIXED.search(text):
        return None
    if cells:
        last = LAST_CELL.match(text, text.rfind(b'<c r="'))
        if not last:
            return None
        row, column = int(last.group(2)), column_number(last.group(1))
        farthest_row, farthest_column = max(position[2], row), max(position[3], column)
        if re.search(b'<c r="(?!' + _not_after(column_letters(farthest_column).encode(), b"A", b"Z")
                     + _not_after(str(farthest_row).encode(), b"1", b"9", b"0", b'"') + b")", text):
            return None
        position[:] = row, column, farthest_row, farthest_column
    return text.count(b"<row"), cells


def _not_after(limit, low, high, rest_low=None, end=b""):
    """A pattern of the strings shorter than limit, and of its length those not after it, over the characters
    low..high (rest_low..high after the first), each followed by end: the columns up to AB, the rows up to 120.
    Possessive: a cell's reference is tried once, not backtracked through."""
    rest_low = rest_low or low
    any_rest = b"[" + rest_low + b"-" + high + b"]"
    choices = [b"[" + low + b"-" + high + b"]" + any_rest + b"{0,%d}+" % (len(limit) - 2) + end] \
        if len(limit) > 1 else []
    for index, char in enumerate(limit):
        floor = low if index == 0 else rest_low
        if char > floor[0]:
            choices.append(re.escape(limit[:index]) + b"[" + floor + b"-" + bytes([char - 1]) + b"]"
                           + any_rest + b"{%d}" % (len(limit) - index - 1) + end)
    choices.append(re.escape(limit) + end)
    return b"(?:" + b"|".join(choices) + b")"


def _placed_one_by_one(text, cut, position):
    """(rows, cells) of a stretch read element by element, placing each cell as the reader does: at its r
    attribute, else next to the cell before (a row without r is the row after the one before)."""
    rows = cells = 0
    for name, attributes in ROW_OR_CELL.findall(text, 0, cut):
        found = POSITION.search(attributes)
        where = (found.group(1) if found.group(1) is not None else found.group(2)).strip() if found else b""
        if name == b"row":
            rows += 1
            position[0], position[1] = (int(where) if where.isdigit() else position[0] + 1), 0
            continue
        cells += 1
        reference = REFERENCE.fullmatch(where)
        if reference:
            position[0], position[1] = int(reference.group(2)), column_number(reference.group(1))
        else:
            position[0], position[1] = max(position[0], 1), position[1] + 1
        position[2], position[3] = max(position[2], position[0]), max(position[3], position[1])
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
    from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

    last_rows = check_xlsx_size(content)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(content))
        names = [sheet.name for sheet in workbook.sheets_metadata if sheet.typ == SheetTypeEnum.WorkSheet]
        if not names:
            raise Refused(problem("xlsx_unreadable", detail="no worksheet"))
        sheet = workbook.get_sheet_by_name(names[0])
        table = sheet_texts(sheet, last_rows.get(names[0], 0))
        header_index = find_header(table, aliases)
        merged = [_range_name(*cells) for cells in sheet.merged_cell_ranges or ()
                  if cells[0][0] <= header_index <= cells[1][0]]
        if merged:
            raise Refused(problem("merged_header", cells=", ".join(merged), row=header_index + 1))
        records, header = _records_from_table(table, aliases, first_row=1)
        extras = {}
        for name, sheet_aliases in extra_sheets:
            found = [title for title in names[1:] if title.strip().lower() in name]
            if found:
                rows = sheet_texts(workbook.get_sheet_by_name(found[0]), last_rows.get(found[0], 0))
                extras[name[0]] = _records_from_table(rows, sheet_aliases, first_row=1, sheet=found[0])
    except (CalamineError, ValueError, OSError) as error:
        raise Refused(problem("xlsx_unreadable", detail=str(error)[:200])) from None
    return records, header, extras, []


def sheet_texts(sheet, last_row):
    """A sheet's rows from A1 as text, as many as its last cell's row (an empty formatted row still counts)."""
    table = []
    for row in sheet.to_python(skip_empty_area=False):
        # Text stays unstripped: the header search and the records strip what they read.
        texts = [value if value.__class__ is str else xlsx_text(value) for value in row]
        if "'" in "".join(texts):  # an export's formula guard may have quoted cells
            texts = [unguard(text.strip()) for text in texts]
        table.append(texts)
    table.extend([] for _row in range(last_row - len(table)))
    return table


def xlsx_text(value):
    """A cell's number, day or flag as text, as the import has always read it: a number stored whole without '.0'
    (calamine reads every number as a float: '13812341234', not '13812341234.0'; exact up to 2**53, as a
    16-digit code), a day as its midnight (calamine gives a date, a datetime's text is what the checks know)."""
    if value.__class__ is float:
        return str(int(value)) if value.is_integer() and -WHOLE < value < WHOLE else repr(value)
    if value.__class__ is date:
        value = datetime.combine(value, time())
    return cell_text(value)


def _range_name(first, last):
    """A merged range as Excel names it (C1:D1; a single cell C1), from calamine's (row, column) from 0."""
    start, end = (f"{column_letters(column + 1)}{row + 1}" for row, column in (first, last))
    return start if start == end else f"{start}:{end}"


def column_letters(number):
    """A column's letters from its number from 1 (28: AB)."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_number(letters):
    """A column's number from 1 from its letters (b"AB": 28)."""
    number = 0
    for char in letters.upper():
        number = number * 26 + char - 64
    return number


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
