"""Tables as downloads: Excel (openpyxl, one sheet per table) or CSV (one table), Chinese headers.

A table is (title, columns, rows); a column is (header, kind) with kind "text", "int", "date" or
"percent", so that Excel holds numbers as numbers and dates as dates.
"""
import csv
import io
from datetime import date

from flask import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"percent": "0.0%"}


def _value(value, kind):
    """A cell's value as its kind asks: a date from ISO text, a whole number, a ratio; blank stays None."""
    if value is None or value == "":
        return None
    if kind == "date" and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if kind == "int":
        return int(value)
    if kind == "percent":
        return float(value)
    return value


def workbook_bytes(tables):
    """An .xlsx file with one sheet per table (write-only: tens of thousands of rows stay cheap)."""
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, columns, rows in tables:
        sheet = book.create_sheet(title=title[:31])
        header = []
        for name, _kind in columns:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        kinds = [kind for _name, kind in columns]
        percent = [i for i, kind in enumerate(kinds) if kind == "percent"]
        for row in rows:
            # Plain values cost a third of styled cells; openpyxl formats dates as yyyy-mm-dd by itself.
            line = [_value(value, kind) for value, kind in zip(row, kinds)]
            for i in percent:
                line[i] = WriteOnlyCell(sheet, value=line[i])
                line[i].number_format = FORMATS["percent"]
            sheet.append(line)
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_text(table):
    """One table as CSV text: a header row, then the rows; ratios as 0.853, dates as 2026-11-28."""
    _title, columns, rows = table
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([name for name, _kind in columns])
    kinds = [kind for _name, kind in columns]
    for row in rows:
        writer.writerow(["" if v is None else (round(v, 4) if k == "percent" else v) for v, k in zip(row, kinds)])
    return out.getvalue()


def download(fmt, filename, tables):
    """An attachment: every table as an Excel workbook (fmt "xlsx"), or the first one as CSV."""
    if fmt == "xlsx":
        body, mimetype = workbook_bytes(tables), XLSX
    else:
        # A byte-order mark, so that Excel opens the UTF-8 file with its Chinese intact.
        body, mimetype, fmt = ("\ufeff" + csv_text(tables[0])).encode("utf-8"), "text/csv; charset=utf-8", "csv"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
