"""Imports: what a preview says about good, bad and messy files, and what a commit writes (all or nothing)."""
import io
import json
from pathlib import Path

import pytest
from shapely.geometry import Point, shape

from fieldapp import imports
from fieldapp.data import db as database
from fieldapp.imports.problems import describe, where
from tests import factories

DATA = Path(__file__).parent / "data"
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "lujiazui-osm"
DEMO = Path(__file__).resolve().parents[1] / "geodata" / "demo"
HEADER = "external_id,building,unit,room,address,longitude,latitude,resident_name,resident_phone,resident_tags\n"


@pytest.fixture
def english(app):
    """A request in English, for the worded problems."""
    with app.test_request_context("/?lang=en"):
        yield


def box(west, east, south=30.280, north=30.282):
    """A rectangle as GeoJSON text, its corners exactly the numbers given (neighbours share their edges)."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


@pytest.fixture
def world(db):
    """Two adjacent cells C-A (120.100-120.102) and C-B (120.102-120.104) at 30.280-30.282; building B1 in C-A."""
    grid = factories.make_grid(db, code="G-1")
    cell_a = factories.make_cell(db, grid, lon=120.100, lat=30.280, code="C-A", geometry=box(120.100, 120.102))
    cell_b = factories.make_cell(db, grid, lon=120.102, lat=30.280, code="C-B", geometry=box(120.102, 120.104))
    building = factories.make_building(db, cell_a, lon=120.1005, lat=30.2805, external_id="B1", name="3号楼")
    return {"grid": grid, "a": cell_a, "b": cell_b, "building": building}


def counts(db):
    """How many rows each imported table holds."""
    return {t: database.scalar(db, f"SELECT count(*) FROM {t}")
            for t in ("grids", "cells", "buildings", "households", "residents", "resident_tags")}


def run(db, kind, content, filename, crs="wgs84", commit=True):
    """Preview a file and commit it if asked; return the preview."""
    report = imports.preview(db, kind, content.encode() if isinstance(content, str) else content, filename, crs)
    if commit:
        imports.commit(db, report)
    return report


def worded(found):
    """A problem as the preview page lists it: where, field, reason."""
    return f"{where(found)} | {found.get('field') or ''} | {describe(found)}"


def cells_file(*features):
    """A GeoJSON FeatureCollection of (code, name, geometry) cells."""
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "name": name}, "geometry": geometry}
        for code, name, geometry in features]}, ensure_ascii=False)


def test_cells_import_and_reimport_updates_by_code_without_duplicates(db, english):
    content = cells_file(("N1", "一区", factories.square(120.3, 30.3)), ("N2", "二区", factories.square(120.302, 30.3)))
    report = run(db, "cells", content, "cells.geojson")
    assert (report["add"], report["update"], report["unchanged"], report["errors"]) == (2, 0, 0, [])
    assert run(db, "cells", content, "cells.geojson")["unchanged"] == 2
    renamed = content.replace("二区", "二区（新）")
    report = run(db, "cells", renamed, "cells.geojson")
    assert (report["add"], report["update"], report["unchanged"]) == (0, 1, 1)
    names = database.rows(db, "SELECT code, name FROM cells ORDER BY code")
    assert names == [{"code": "N1", "name": "一区"}, {"code": "N2", "name": "二区（新）"}]
    assert database.scalar(db, "SELECT name FROM grids WHERE code = 'unassigned'") == "未分网格"


def test_households_take_their_buildings_point_and_cell(db, world, english):
    content = HEADER + "H1,B1,2,501,翠苑3号楼2单元501室,,,王秀英,13812341234,独居老人\n" \
                       "H2,B1,2,502,翠苑3号楼2单元502室,120.1005,30.2805,,,\n"
    report = run(db, "households", content, "households.csv")
    assert report["errors"] == [] and report["add"] == 2
    stored = database.rows(db, "SELECT external_id, cell_id, building_id, lon, lat FROM households ORDER BY external_id")
    assert [(h["cell_id"], h["building_id"], h["lon"]) for h in stored] == [(world["a"], world["building"], None)] * 2
    tags = database.rows(db, "SELECT r.name, r.phone, t.code FROM residents r JOIN resident_tags rt ON rt.resident_id = r.id "
                             "JOIN tags t ON t.id = rt.tag_id")
    assert tags == [{"name": "王秀英", "phone": "13812341234", "code": "elderly_alone"}]


def test_a_roster_with_one_row_per_resident_makes_one_household(db, world, english):
    content = HEADER + "H1,B1,2,501,翠苑3号楼2单元501室,,,王秀英,13812341234,独居老人\n" \
                       "H1,B1,2,501,翠苑3号楼2单元501室,,,李建国,13900001111,党员、退役军人\n"
    report = run(db, "households", content, "households.csv")
    assert report["errors"] == [] and report["add"] == 1
    assert counts(db)["residents"] == 2 and counts(db)["resident_tags"] == 3
    again = run(db, "households", content, "households.csv")
    assert (again["add"], again["update"], again["unchanged"]) == (0, 0, 1)
    assert counts(db)["residents"] == 2


def test_own_points_are_placed_in_the_cell_that_holds_them(db, world, english):
    content = HEADER + "V1,,,,龙坞村1号,120.1031,30.2811,,,\nV2,,,,龙坞村2号,120.1011,30.2811,,,\n"
    report = run(db, "households", content, "households.csv")
    assert report["errors"] == []
    placed = {h["external_id"]: h["cell_id"] for h in database.rows(db, "SELECT external_id, cell_id FROM households")}
    assert placed == {"V1": world["b"], "V2": world["a"]}


def test_a_point_on_a_shared_border_is_reported_not_guessed(db, world, english):
    content = HEADER + "V1,,,,龙坞村1号,120.102,30.281,,,\n"
    report = run(db, "households", content, "households.csv")
    assert [worded(e) for e in report["errors"]] == [
        "Row 2 | longitude | The point lies on the border of cells C-A, C-B: name one of them in the cell_code column."]
    assert counts(db)["households"] == 0
    report = run(db, "households", HEADER.replace("\n", ",cell_code\n") + "V1,,,,龙坞村1号,120.102,30.281,,,,C-B\n",
                 "households.csv")
    assert report["errors"] == [] and database.scalar(db, "SELECT cell_id FROM households") == world["b"]


def test_points_outside_every_cell_are_skipped_and_the_rest_committed(db, world, english):
    content = HEADER + "V1,,,,龙坞村1号,120.1011,30.2811,,,\nV2,,,,西溪1号,120.2,30.3,,,\n"
    report = run(db, "households", content, "households.csv")
    assert report["errors"] == [] and report["add"] == 1
    assert [worded(s) for s in report["skipped"]] == ["Row 3 |  | Outside every cell."]
    assert database.scalar(db, "SELECT external_id FROM households") == "V1"


def test_a_footprint_gets_a_point_inside_it_not_its_centroid(db, world, english):
    # A U-shaped building: its centroid lies in the courtyard, outside the footprint.
    u = [[120.1002, 30.2802], [120.1012, 30.2802], [120.1012, 30.2812], [120.1010, 30.2812], [120.1010, 30.2804],
         [120.1004, 30.2804], [120.1004, 30.2812], [120.1002, 30.2812], [120.1002, 30.2802]]
    content = json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "U1"},
                          "geometry": {"type": "Polygon", "coordinates": [u]}}]})
    report = run(db, "buildings", content, "buildings.geojson")
    assert report["errors"] == [] and report["add"] == 1
    stored = database.one(db, "SELECT lon, lat, footprint, cell_id FROM buildings WHERE external_id = 'U1'")
    footprint = shape(json.loads(stored["footprint"]))
    assert footprint.contains(Point(stored["lon"], stored["lat"])) and not footprint.contains(footprint.centroid)
    assert stored["cell_id"] == world["a"]


def test_gcj02_coordinates_are_stored_as_wgs84(db, world, english):
    from fieldapp.geo import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(120.1011, 30.2811)
    report = run(db, "households", HEADER + f"V1,,,,龙坞村1号,{lon},{lat},,,\n", "households.csv", crs="gcj02")
    assert report["errors"] == []
    stored = database.one(db, "SELECT lon, lat FROM households")
    assert abs(stored["lon"] - 120.1011) < 1e-5 and abs(stored["lat"] - 30.2811) < 1e-5


def test_csv_with_a_bom_and_semicolons_is_read(db, world, english):
    content = "\ufeff" + HEADER.replace(",", ";") + "H1;B1;1;101;翠苑3号楼1单元101室;;;;;\n"
    report = run(db, "households", content.encode("utf-8"), "households.csv")
    assert report["errors"] == [] and report["add"] == 1
    assert [describe(n) for n in report["notes"]] == ["Read as UTF-8 text."]


def test_xlsx_with_a_title_row_and_a_residents_sheet(db, world, english):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["翠苑社区住户名册"])
    sheet.append(["户编号", "楼栋", "单元", "室", "地址"])
    sheet.append(["H1", "B1", 2, 501, "翠苑3号楼2单元501室"])
    people = workbook.create_sheet("居民")
    people.append(["户编号", "姓名", "电话", "标签"])
    people.append(["H1", "王秀英", 13812341234, "独居老人"])
    out = io.BytesIO()
    workbook.save(out)
    report = run(db, "households", out.getvalue(), "名册.xlsx")
    assert report["errors"] == [] and report["add"] == 1
    assert [worded(s) for s in report["skipped"]] == ["Row 1 |  | Above the header row (a title?): ignored."]
    assert database.one(db, "SELECT room, unit FROM households") == {"room": "501", "unit": "2"}
    assert database.one(db, "SELECT name, phone FROM residents") == {"name": "王秀英", "phone": "13812341234"}


def merged_header_workbook():
    """An .xlsx whose header has merged cells (address over two columns) and an empty row."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["external_id", "building", "address", None, "unit"])
    sheet.merge_cells("C1:D1")
    sheet.append(["H1", "B1", "翠苑", "3号楼", "1"])
    sheet.append([])
    sheet.append(["H2", "B1", "翠苑", "3号楼", "2"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


BAD_INPUT = [
    ("invalid.geojson", "cells",
     ["File |  | The file is not valid JSON: line 4, column 2 (Expecting ',' delimiter)."]),
    ("cells_as_points.geojson", "cells",
     ["Feature 1 | geometry | Geometry Point: Cells need Polygon or MultiPolygon.",
      "Feature 2 | geometry | Geometry Point: Cells need Polygon or MultiPolygon."]),
    ("households_swapped.csv", "households",
     ["Row 3 | latitude | Latitude 120.1006 is outside -90…90: are longitude and latitude swapped?",
      "Row 4 | latitude | Latitude 120.1007 is outside -90…90: are longitude and latitude swapped?"]),
    ("cells_self_intersecting.geojson", "cells",
     ["Feature 2 | geometry | The polygon crosses itself near 120.211, 30.281."]),
    ("cells_overlapping.geojson", "cells", ["Feature 1 | geometry | Overlaps cell T2 by about 21,403 m²."]),
    ("households_missing_column.csv", "households", ["File |  | Required column missing: address."]),
    ("households_gbk.csv", "households", ["Row 3 | 标签 | Unknown tag “孤寡”."]),
    ("households_duplicate_ids.csv", "households",
     ["Row 4 | external_id | “H1” appears more than once (first in Row 2)."]),
    ("text_named.xlsx", "households", ["File |  | text_named.xlsx is named like an Excel workbook (.xlsx) "
                                       "but holds text (CSV)."]),
    ("merged_header.xlsx", "households",
     ["File |  | Header cells C1:D1 in row 1 are merged: give every column its own name in one row."]),
]


@pytest.mark.parametrize("name, kind, expected", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_gets_clear_errors_and_changes_nothing(db, world, english, name, kind, expected):
    content = merged_header_workbook() if name == "merged_header.xlsx" else (DATA / name).read_bytes()
    before = counts(db)
    report = run(db, kind, content, name)
    assert [worded(e) for e in report["errors"]] == expected
    assert report["plan"] is None and not imports.commit(db, report)
    assert counts(db) == before


def test_a_geometry_that_breaks_geojson_rules_is_named_with_its_feature_and_nothing_is_written(db, world, english):
    open_ring = {"type": "Polygon", "coordinates": [factories.square(120.3, 30.3)["coordinates"][0][:-1]]}
    three_positions = {"type": "Polygon", "coordinates": [[[120.31, 30.3], [120.312, 30.3], [120.31, 30.3]]]}
    content = cells_file(("N1", "一区", factories.square(120.302, 30.3)), ("N2", "二区", open_ring),
                         ("", "三区", three_positions))
    before = counts(db)
    report = run(db, "cells", content, "cells.geojson")
    assert [worded(e) for e in report["errors"]] == [
        "Feature 2 | geometry | The Polygon of “N2” is not valid GeoJSON: each ring must end where it started "
        "(its last position the same as its first).",
        "Feature 3 | geometry | The Polygon is not valid GeoJSON: each ring needs at least 4 positions "
        "(the first repeated at the end)."]
    assert report["plan"] is None and not imports.commit(db, report) and counts(db) == before


def test_a_point_with_one_coordinate_is_refused_in_both_languages(app, db, world):
    features = [{"type": "Feature", "id": "H9", "properties": {"address": "龙坞村9号"},
                 "geometry": {"type": "Point", "coordinates": [120.1011]}},
                {"type": "Feature", "id": "H8", "properties": {"address": "龙坞村8号"},
                 "geometry": {"type": "Point", "coordinates": [120.1011, 30.2811]}}]
    content = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    report = run(db, "households", content, "households.geojson")
    with app.test_request_context("/?lang=en"):
        assert [worded(e) for e in report["errors"]] == [
            "Feature 1 | geometry | The Point of “H9” is not valid GeoJSON: a position must have exactly 2 or 3 "
            "numbers (longitude, latitude and an optional height)."]
    with app.test_request_context("/?lang=zh"):
        assert [worded(e) for e in report["errors"]] == [
            "第 1 个要素 | geometry | “H9”的 Point 不是有效的 GeoJSON：一个坐标位置必须恰好有 2 个或 3 个数"
            "（经度、纬度，以及可选的高程）。"]
    assert counts(db)["households"] == 0


def test_coordinates_nested_too_deep_are_refused_not_a_server_error(db, world, english):
    def polygon_nested(depth):
        """A cells file of a square, then a polygon whose coordinates are lists nested depth deep."""
        square = json.dumps({"type": "Feature", "properties": {"code": "D0"}, "geometry": factories.square(120.3, 30.3)})
        return ('{"type": "FeatureCollection", "features": [' + square + ', {"type": "Feature", "properties": '
                '{"code": "D1"}, "geometry": {"type": "Polygon", "coordinates": ' + "[" * depth + "]" * depth + "}}]}")

    assert [worded(e) for e in run(db, "cells", polygon_nested(100_000), "deep.geojson")["errors"]] == [
        "File |  | The file nests its lists and objects too deeply to be read."]
    assert [worded(e) for e in run(db, "cells", polygon_nested(800), "deep.geojson")["errors"]] == [
        "Feature 2 | geometry | The Polygon of “D1” is not valid GeoJSON: each ring needs at least 4 positions "
        "(the first repeated at the end)."]
    assert counts(db)["cells"] == 2


def test_errors_are_worded_in_chinese(app, db, world):
    report = run(db, "households", (DATA / "households_duplicate_ids.csv").read_bytes(), "households.csv")
    with app.test_request_context("/?lang=zh"):
        assert worded(report["errors"][0]) == "第 4 行 | external_id | “H1”出现不止一次（首次在第 2 行）。"


def test_the_gbk_file_is_read_as_gbk(db, world, english):
    fixed = (DATA / "households_gbk.csv").read_bytes().decode("gbk").replace("孤寡", "独居老人").encode("gbk")
    report = run(db, "households", fixed, "households.csv")
    assert report["errors"] == [] and [describe(n) for n in report["notes"]] == ["Read as GBK/GB18030 text."]
    assert database.rows(db, "SELECT address FROM households ORDER BY id") == [
        {"address": "翠苑三号楼1单元101室"}, {"address": "翠苑三号楼1单元102室"}]


def test_a_file_over_the_limit_is_refused_before_reading(db, english):
    content = b"x" * (50 * 1024 * 1024)
    report = run(db, "households", content, "big.csv")
    assert [worded(e) for e in report["errors"]] == ["File |  | The file is too large (50.0 MB): at most 45 MB."]


@pytest.mark.skipif(not (REALDATA / "compounds.geojson").exists(),
                    reason=f"the real Lujiazui files are not here: {REALDATA} (shared/realdata beside the checkout)")
def test_lujiazui_compounds_and_buildings_give_the_sensible_result(db, english):
    compounds = (REALDATA / "compounds.geojson").read_bytes()
    report = run(db, "cells", compounds, "compounds.geojson")
    assert report["errors"] == [] and report["add"] == 18  # 49 features, 18 compounds
    assert sum(1 for s in report["skipped"] if s["code"] == "label") == 12
    merged = [n for n in report["notes"] if n["code"] == "merged_pieces"]
    assert len(merged) == 13 and {"id": "407443111", "n": 4} in [n["params"] for n in merged]
    assert database.scalar(db, "SELECT name FROM cells WHERE code = '407443084'") == "上港小区"

    report = run(db, "buildings", (REALDATA / "buildings.geojson").read_bytes(), "buildings.geojson")
    skipped = {}
    for found in report["skipped"]:
        skipped[found["code"]] = skipped.get(found["code"], 0) + 1
    assert report["errors"] == []
    assert skipped["outside"] > 1000 and skipped["label"] == 222 and skipped["not_a_building"] == 186
    stored = database.scalar(db, "SELECT count(*) FROM buildings")
    assert stored == report["add"] and 20 < stored < 200
    # One building per id, every point inside its own footprint and its cell.
    for building in database.rows(db, "SELECT b.lon, b.lat, b.footprint, c.geometry FROM buildings b "
                                      "JOIN cells c ON c.id = b.cell_id WHERE b.footprint IS NOT NULL"):
        point = Point(building["lon"], building["lat"])
        assert shape(json.loads(building["footprint"])).intersects(point)
        assert shape(json.loads(building["geometry"])).intersects(point)
    assert run(db, "buildings", (REALDATA / "buildings.geojson").read_bytes(), "b.geojson")["unchanged"] == stored


@pytest.mark.skipif(not (DEMO / "households.geojson").exists(), reason="geodata/demo/ not written yet")
def test_the_demo_geodata_files_import_cleanly(db, english):
    for kind in ("cells", "buildings", "households"):
        report = run(db, kind, (DEMO / f"{kind}.geojson").read_bytes(), f"{kind}.geojson")
        assert [worded(e) for e in report["errors"]] == [] and report["skipped"] == []
        assert report["add"] == database.scalar(db, f"SELECT count(*) FROM {kind}") > 0


def test_the_command_line_refuses_a_bad_file_with_its_errors_on_stderr(runner, db, world, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    before = counts(db)
    result = runner.invoke(args=["import", "households", str(DATA / "households_duplicate_ids.csv")])
    assert result.exit_code != 0
    assert "Row 4 [external_id]: “H1” appears more than once (first in Row 2)." in result.stderr
    assert "Nothing was imported." in result.stderr and counts(db) == before


def test_the_command_line_imports_and_dry_runs(runner, db, world, tmp_path, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    path = tmp_path / "households.csv"
    path.write_text(HEADER + "H1,B1,1,101,翠苑3号楼1单元101室,,,,,\n", encoding="utf-8")
    result = runner.invoke(args=["import", "households", str(path), "--dry-run"])
    assert result.exit_code == 0 and "1 to add" in result.output and counts(db)["households"] == 0
    result = runner.invoke(args=["import", "households", str(path), "--crs", "wgs84"])
    assert result.exit_code == 0 and counts(db)["households"] == 1


# ---- Excel workbooks that would unpack or spread past what can be read ----

SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><worksheet '
              'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
              '<row r="1"><c r="A1" t="inlineStr"><is><t>external_id</t></is></c>'
              '<c r="B1" t="inlineStr"><is><t>building</t></is></c>'
              '<c r="C1" t="inlineStr"><is><t>address</t></is></c></row>').encode()
SHEET_TAIL = b"</sheetData></worksheet>"


def workbook_with_sheet(write_sheet):
    """A workbook saved by openpyxl whose first sheet's XML is what write_sheet(stream) writes instead."""
    import zipfile

    from openpyxl import Workbook

    saved = io.BytesIO()
    Workbook().save(saved)
    source = zipfile.ZipFile(saved)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in source.infolist():
            if member.filename == "xl/worksheets/sheet1.xml":
                with archive.open(member.filename, "w", force_zip64=True) as stream:
                    write_sheet(stream)
            else:
                archive.writestr(member, source.read(member))
    return out.getvalue()


def rows_of_households(count):
    """A sheet writer: the header, then count households in building B1 (three cells each)."""
    def write(stream):
        stream.write(SHEET_HEAD)
        for start in range(2, count + 2, 10_000):
            stream.write("".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c><c r="B{n}" t="inlineStr"><is><t>B1</t></is>'
                                 f'</c><c r="C{n}" t="inlineStr"><is><t>{n}号</t></is></c></row>'
                                 for n in range(start, min(start + 10_000, count + 2))).encode())
        stream.write(SHEET_TAIL)
    return write


def test_an_xlsx_that_unpacks_past_the_limit_is_refused_before_it_is_read(db, world, english, monkeypatch):
    import python_calamine

    def padded(stream):  # 251 MB of XML, nearly all of it blanks: a zip bomb of a quarter megabyte
        stream.write(SHEET_HEAD)
        for _megabyte in range(251):
            stream.write(b" " * (1 << 20))
        stream.write(SHEET_TAIL)

    bomb = workbook_with_sheet(padded)
    assert len(bomb) < 1024 * 1024
    monkeypatch.setattr(python_calamine, "CalamineWorkbook", None)  # reading it would fail the test
    before = counts(db)
    report = run(db, "households", bomb, "bomb.xlsx")
    assert [worded(e) for e in report["errors"]] == [
        "File |  | The Excel file unpacks to 251 MB: at most 250 MB can be read. Split it into smaller files."]
    assert report["plan"] is None and counts(db) == before


def test_a_sheet_of_more_than_300000_rows_is_refused_on_the_preview_and_the_command_line(
        app, client, auth, runner, db, world, tmp_path, monkeypatch):
    content = workbook_with_sheet(rows_of_households(300_001))
    assert len(content) < 5 * 1024 * 1024
    factories.make_user(db, "admin", "boss")
    auth.login("boss")
    response = client.post("/admin/import/households", data={
        "csrf_token": auth.csrf_token("/admin/import"), "crs": "wgs84",
        "file": (io.BytesIO(content), "名册.xlsx")})
    preview = response.headers["Location"]
    page = client.get(preview + "?lang=zh").get_data(as_text=True)
    assert "工作表 Sheet 超过 300,000 行：一次最多可导入这么多行。请拆分为较小的文件。" in page
    committed = client.post(preview + "/commit", data={"csrf_token": auth.csrf_token("/admin/import")})
    assert committed.status_code == 422 and counts(db)["households"] == 0

    monkeypatch.setenv("LANG", "en_US.UTF-8")
    path = tmp_path / "households.xlsx"
    path.write_bytes(content)
    result = runner.invoke(args=["import", "households", str(path)])
    assert result.exit_code != 0 and "Nothing was imported." in result.stderr
    assert ("Sheet Sheet has more than 300,000 rows: at most that many can be imported at once. "
            "Split it into smaller files.") in result.stderr
    assert counts(db)["households"] == 0


def test_a_workbook_with_too_many_cells_is_refused(db, world, english, monkeypatch):
    from fieldapp.imports import readers

    monkeypatch.setattr(readers, "XLSX_CELLS", 1000)  # the same count as at 5 million, on a small file
    report = run(db, "households", workbook_with_sheet(rows_of_households(333)), "h.xlsx")  # 1,002 cells
    assert [worded(e) for e in report["errors"]] == [
        "File |  | The Excel file holds more than 1,000 cells: at most that many can be read. Split it into smaller files."]
    assert counts(db)["households"] == 0
    report = run(db, "households", workbook_with_sheet(rows_of_households(332)), "h.xlsx")  # 999 cells
    assert report["errors"] == [] and report["add"] == 332 == counts(db)["households"]


def test_a_stray_cell_far_out_is_refused_not_walked(db, world, english):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["external_id", "address"])
    sheet.append(["H1", "翠苑1号"])
    sheet["ZZZ200000"] = "?"  # 200,000 rows by 18,278 columns: billions of empty cells to walk
    out = io.BytesIO()
    workbook.save(out)
    before = counts(db)
    report = run(db, "households", out.getvalue(), "h.xlsx")
    assert [worded(e) for e in report["errors"]] == [
        "File |  | Sheet Sheet reaches cell ZZZ200000: at most 5,000,000 cells (rows × columns) can be read. "
        "Delete the rows and columns beyond the table."]
    assert counts(db) == before


def test_a_stray_cell_far_out_past_the_first_megabyte_is_refused_before_it_is_read(db, world, english, monkeypatch):
    import python_calamine

    from fieldapp.imports import readers

    def rows_with(stray, at):
        """12,000 households (1.4 MB of XML, counted in 1 MB pieces) with the stray cells at the end of row at."""
        def write(stream):
            stream.write(SHEET_HEAD)
            stream.write("".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c><c r="B{n}" t="inlineStr"><is><t>B1</t>'
                                 f'</is></c><c r="C{n}" t="inlineStr"><is><t>{n}号</t></is></c>'
                                 + (stray if n == at else "") + "</row>" for n in range(2, 12_002)).encode())
            stream.write((f'<row r="{at}">{stray}</row>' if at > 12_001 else "").encode() + SHEET_TAIL)
        return write

    assert readers.check_xlsx_size(workbook_with_sheet(rows_with('<c r="D12002"><v>1</v></c>', 12_002))) == {
        "Sheet": 12_002}
    monkeypatch.setattr(python_calamine, "CalamineWorkbook", None)  # reading it would fail the test
    extent = "at most 5,000,000 cells (rows × columns) can be read. Delete the rows and columns beyond the table."
    for stray, at, expected in (
            ('<c r="ZZ12002"><v>1</v></c>', 12_002, f"Sheet Sheet reaches cell ZZ12002: {extent}"),
            ('<c r="ZZ11000"><v>1</v></c>', 11_000, f"Sheet Sheet reaches cell ZZ12001: {extent}"),
            ('<c r="A900000"><v>1</v></c>', 11_000, "Sheet Sheet has more than 300,000 rows: at most that many can be "
                                                    "imported at once. Split it into smaller files."),
            ("<c><v>1</v></c>" * 420, 11_000, f"Sheet Sheet reaches cell PG12001: {extent}")):  # after C11000
        report = run(db, "households", workbook_with_sheet(rows_with(stray, at)), "h.xlsx")
        assert [worded(e) for e in report["errors"]] == ["File |  | " + expected], stray[:30]
    assert counts(db)["households"] == 0


def test_xlsx_cells_read_as_the_text_excel_shows(db, world, english):
    """Numbers stored whole read without '.0', coordinates keep their digits, a day reads as its midnight, a
    formula as its last computed value, an empty cell as blank."""
    import datetime
    import zipfile

    from openpyxl import Workbook

    from fieldapp.imports import readers

    workbook = Workbook()
    workbook.active.append(["phone", "longitude", "day", "blank", "sum", "flag", "whole", "note", "code"])
    workbook.active.append([13812341234, 120.1234567, datetime.date(2026, 11, 20), None, "=2*3", True, 12.0, " 1号 ",
                            3101150010010001])
    saved = io.BytesIO()
    workbook.save(saved)
    out = io.BytesIO()
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(out, "w") as archive:
        for member in source.infolist():  # Excel keeps a formula's last value: openpyxl writes none
            archive.writestr(member, source.read(member).replace(b"<f>2*3</f><v></v>", b"<f>2*3</f><v>6</v>"))
    aliases = {name: name for name in ("phone", "longitude", "day", "blank", "sum", "flag", "whole", "note", "code")}
    records, _header, _extras, _notes = readers.read_xlsx(out.getvalue(), aliases)
    assert records[0]["values"] == {"phone": "13812341234", "longitude": "120.1234567", "day": "2026-11-20 00:00:00",
                                    "blank": "", "sum": "6", "flag": "true", "whole": "12", "note": "1号",
                                    "code": "3101150010010001"}


def test_a_broken_zip_is_refused_as_unreadable(db, world, english):
    content = workbook_with_sheet(rows_of_households(2000))
    damaged = bytearray(content)
    start = content.find(b"sheet1.xml") + 200
    damaged[start:start + 50] = bytes(byte ^ 0x55 for byte in damaged[start:start + 50])  # the sheet's deflated data
    for broken in (content[:len(content) // 2], bytes(damaged)):
        report = run(db, "households", broken, "h.xlsx")
        assert [e["code"] for e in report["errors"]] == ["xlsx_unreadable"] and counts(db)["households"] == 0


def test_a_csv_cell_too_long_to_read_is_refused_with_its_line(db, world, english):
    content = HEADER + "H1,B1,1,101,翠苑3号楼1单元101室,,,,,\n" + "H2,B1,1,102," + "长" * 200_000 + ",,,,,\n"
    report = run(db, "households", content.encode("utf-8"), "households.csv")
    assert report["add"] == 0 and counts(db)["households"] == 0
    assert any("cannot be read at line" in describe(found) for found in report["errors"]), report["errors"]
