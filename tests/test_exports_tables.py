"""The table writer: the formula guard, CSV with a BOM, and .xlsx with strings that never run, typed numbers,
dates and ratios."""
import csv
import io
from datetime import date, datetime

import pytest
from openpyxl import load_workbook

from fieldapp.exports import tables
from fieldapp.imports.readers import read_csv, read_xlsx

HOSTILE = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_the_guard_quotes_text_a_spreadsheet_would_run_and_unguard_undoes_it(text):
    assert tables.inert(text) == "'" + text
    assert tables.unguard(tables.inert(text)) == text


@pytest.mark.parametrize("value", [-3, -2.5, 0, None, "", "王秀英", "3-1", "a=b", "'apostrophe", "it's"])
def test_the_guard_leaves_numbers_and_harmless_text_as_they_are(value):
    assert tables.inert(value) == value
    if isinstance(value, str):
        assert tables.unguard(value) == value


@pytest.mark.parametrize("text", ["'=1", "''+2", "'\t=1"])
def test_apostrophes_typed_before_a_formula_come_back_exactly(text):
    assert tables.inert(text) == "'" + text
    assert tables.unguard(tables.inert(text)) == text


TABLE = ("名单", [("姓名", "text"), ("次数", "int"), ("日期", "date"), ("覆盖率", "percent"), ("差额", "text")],
         [(text, -3, "2026-11-28", 0.8534, -7) for text in HOSTILE] + [("王秀英", 2, date(2026, 1, 5), None, None)])


def test_csv_has_a_bom_guards_text_and_keeps_numbers():
    content = tables.csv_bytes(TABLE)
    assert content.startswith("\ufeff".encode("utf-8"))
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["姓名", "次数", "日期", "覆盖率", "差额"]
    assert [row[0] for row in rows[1:7]] == ["'" + text for text in HOSTILE]
    assert rows[1][1:] == ["-3", "2026-11-28", "0.8534", "-7"]  # numbers stay numbers, not guarded text
    assert rows[7] == ["王秀英", "2", "2026-01-05", "", ""]


def test_xlsx_holds_strings_never_formulas_and_typed_numbers_dates_ratios():
    book = load_workbook(io.BytesIO(tables.xlsx_bytes([TABLE, ("第二", [("编号", "text")], [["C1"]])])))
    assert book.sheetnames == ["名单", "第二"]
    sheet = book["名单"]
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    assert [sheet.cell(row, 1).value for row in range(2, 8)] == ["'" + text for text in HOSTILE]
    assert sheet["B2"].value == -3 and sheet["E2"].value == -7 and sheet["B2"].data_type == "n"
    assert sheet["C2"].value == datetime(2026, 11, 28) and sheet["C2"].number_format == "yyyy-mm-dd"
    assert sheet["D2"].value == pytest.approx(0.8534) and sheet["D2"].number_format == "0.0%"
    assert sheet["A1"].font.b and sheet.freeze_panes == "A2"
    assert sheet["D8"].value is None and book["第二"]["A2"].value == "C1"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_import_reads_back_what_was_written(fmt):
    written = ["=H1", "+8613812341234", "'=typed", "普通"]
    table = ("households", [("external_id", "text"), ("address", "text")], [(text, text) for text in written])
    content = tables.write(fmt, [table])
    aliases = {"external_id": "external_id", "address": "address"}
    records = (read_csv(content, aliases) if fmt == "csv" else read_xlsx(content, aliases))[0]
    assert [record["values"]["address"] for record in records] == written
