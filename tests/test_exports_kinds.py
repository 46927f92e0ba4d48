"""Exports: what is exported can be imported again as it is, and comes back the same."""
import csv
import io
import json

import geojson
import pytest
from openpyxl import load_workbook

from fieldapp import demo, imports
from fieldapp.data import db as database
from fieldapp.exports import kinds
from tests import factories

DERIVED = {"status", "households", "overdue_request", "open_request", "due", "visited", "vacant"}
CLOCK = {"today": "2026-11-28", "offset": "+480 minutes", "default_cycle": 30}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """The demo community, built once for this module."""
    path = str(tmp_path_factory.mktemp("demo") / "demo.db")
    db = database.connect(path, migrate=True)
    demo.build(db)
    yield db
    db.close()


@pytest.fixture
def empty(tmp_path):
    """A second, empty database."""
    db = database.connect(str(tmp_path / "empty.db"), migrate=True)
    yield db
    db.close()


def features(db, kind):
    """The exported GeoJSON features of kind, without what the status rules derive."""
    collection = json.loads(kinds.export(db, kind, "geojson", CLOCK)["content"])
    return [(f["geometry"], {k: v for k, v in f["properties"].items() if k not in DERIVED})
            for f in collection["features"]]


def import_into(db, kind, content, filename):
    """Import a file, failing the test on any error or skipped feature."""
    report = imports.preview(db, kind, content, filename)
    assert report["errors"] == [] and report["skipped"] == []
    assert imports.commit(db, report)
    return report


def test_geojson_round_trip_gives_the_same_features(app, demo_db, empty):
    for kind in ("cells", "buildings", "households"):
        exported = kinds.export(demo_db, kind, "geojson", CLOCK)["content"]
        import_into(empty, kind, exported, f"{kind}.geojson")
    for kind in ("cells", "buildings", "households"):
        assert features(empty, kind) == features(demo_db, kind), kind
    residents = "SELECT count(*) FROM residents WHERE moved_out_at IS NULL"
    assert database.scalar(empty, residents) == database.scalar(demo_db, residents) > 1000


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_household_tables_round_trip_and_a_second_import_changes_nothing(app, demo_db, empty, fmt):
    import_into(empty, "cells", kinds.export(demo_db, "cells", "geojson", CLOCK)["content"], "cells.geojson")
    import_into(empty, "buildings", kinds.export(demo_db, "buildings", fmt, CLOCK)["content"], f"buildings.{fmt}")
    table = kinds.export(demo_db, "households", fmt, CLOCK)["content"]
    first = import_into(empty, "households", table, f"households.{fmt}")
    assert first["add"] == 2000
    assert features(empty, "households") == features(demo_db, "households")
    again = imports.preview(empty, "households", table, f"households.{fmt}")
    assert (again["add"], again["update"], again["unchanged"]) == (0, 0, 2000)


def test_households_csv_has_the_import_columns_status_and_one_row_per_resident(app, db):
    cell = factories.make_cell(db, code="C9")
    building = factories.make_building(db, cell, external_id="B9")
    household = factories.make_household(db, cell, building, external_id="H9", unit="1", room="101")
    factories.make_resident(db, household, name="王秀英", tags=["elderly_alone"])
    factories.make_resident(db, household, name="李建国", phone="13900001111")
    result = kinds.export(db, "households", "csv", CLOCK)
    text = result["content"].decode("utf-8")
    assert text.startswith("\ufeff") and result["personal"]
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == ",".join(kinds.HOUSEHOLD_COLUMNS)
    assert lines[1].startswith("H9,B9,1,101,") and lines[1].endswith(",C9,due,王秀英,13812341234,独居老人")
    assert lines[2].endswith(",C9,due,李建国,13900001111,")


def test_visits_export_lists_visits_with_their_member_and_amendment(app, db):
    cell = factories.make_cell(db)
    household = factories.make_household(db, cell, external_id="H7")
    member = factories.make_user(db, "member", "walker")
    from fieldapp.data import visits

    visits.record(db, {"uuid": "u-1", "household_id": household, "user_id": member, "visited_at": "2026-11-01T02:00:00Z",
                       "received_at": "2026-11-01T02:00:05Z", "location_flag": "no_location", "outcome": "met",
                       "notes": "身体还好"})
    visit_id = database.scalar(db, "SELECT id FROM visits")
    visits.amend(db, visit_id, member, "2026-11-01T03:00:00Z", "写错了", outcome="nobody_home")
    workbook = load_workbook(io.BytesIO(kinds.export(db, "visits", "xlsx", CLOCK)["content"]))
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0] == kinds.VISIT_COLUMNS
    found = dict(zip(rows[0], rows[1]))
    assert (found["household"], found["member"], found["outcome"], found["amended_outcome"], found["notes"]) == \
        ("H7", "walker", "met", "nobody_home", "身体还好")
    assert kinds.export(db, "visits", "csv", CLOCK, since="2026-11-02T00:00:00Z")["count"] == 0


def test_a_leaders_export_holds_only_the_cells_in_scope(app, db):
    inside, outside = factories.make_cell(db, code="IN"), factories.make_cell(db, lon=120.2, code="OUT")
    factories.make_household(db, inside, external_id="H-IN")
    factories.make_household(db, outside, external_id="H-OUT", lon=120.2008)
    collection = json.loads(kinds.export(db, "households", "geojson", CLOCK, cell_ids=[inside])["content"])
    assert [f["properties"]["external_id"] for f in collection["features"]] == ["H-IN"]
    cells = json.loads(kinds.export(db, "cells", "geojson", CLOCK, cell_ids=[inside])["content"])
    assert [(f["properties"]["code"], f["properties"]["households"]) for f in cells["features"]] == [("IN", 1)]


def test_the_templates_import_cleanly(app, empty):
    for kind in ("cells", "buildings", "households"):
        template = kinds.template(kind)
        report = import_into(empty, kind, template["content"], template["filename"])
        assert report["add"] == 1, kind
    assert database.scalar(empty, "SELECT count(*) FROM residents") == 1


def test_the_command_line_exports_what_it_imports(app, runner, db, tmp_path):
    cell = factories.make_cell(db, code="C1")
    factories.make_household(db, cell, external_id="H1")
    output = tmp_path / "households.xlsx"
    result = runner.invoke(args=["export", "households", "--format", "xlsx", "--output", str(output)])
    assert result.exit_code == 0 and "1 households written" in result.output
    rows = list(load_workbook(output).active.iter_rows(values_only=True))
    assert rows[1][0] == "H1" and rows[1][8] == "C1"
    assert runner.invoke(args=["export", "cells", "--format", "csv", "--output", str(output)]).exit_code != 0
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'export'") == 1


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_text_a_spreadsheet_would_run_is_quoted_and_imports_again_as_typed(app, db, empty, fmt):
    cell = factories.make_cell(db, code="C1")
    household = factories.make_household(db, cell, external_id="H1", address="=HYPERLINK(\"x\")", room="@1")
    factories.make_resident(db, household, name="'-王", phone="+8613812341234")
    content = kinds.export(db, "households", fmt, CLOCK)["content"]
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    else:
        rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    written = dict(zip(rows[0], rows[1]))
    assert (written["address"], written["room"], written["resident_name"], written["resident_phone"]) == \
        ("'=HYPERLINK(\"x\")", "'@1", "''-王", "'+8613812341234")
    import_into(empty, "cells", kinds.export(db, "cells", "geojson", CLOCK)["content"], "cells.geojson")
    import_into(empty, "households", content, f"households.{fmt}")
    assert database.one(empty, "SELECT h.address, h.room, r.name, r.phone FROM households h JOIN residents r "
                               "ON r.household_id = h.id") == {"address": '=HYPERLINK("x")', "room": "@1",
                                                                "name": "'-王", "phone": "+8613812341234"}


def test_outlines_are_exported_as_stored_and_points_to_seven_decimals(app, db, empty):
    cell = factories.make_cell(db, code="C1", lon=120.123456789012, lat=30.281234567891)
    outline = factories.square(120.1234987654321, 30.2812987654321, 0.0003)
    building = factories.make_building(db, cell, external_id="B1", lon=120.12351, lat=30.28131,
                                       footprint=json.dumps({"type": "MultiPolygon",
                                                             "coordinates": [outline["coordinates"]]}))
    factories.make_household(db, cell, building, external_id="H1", lon=120.123512345678, lat=30.281312345678)
    exported = {kind: kinds.export(db, kind, "geojson", CLOCK)["content"]
                for kind in ("cells", "buildings", "households")}
    assert all(geojson.loads(content).is_valid for content in exported.values())
    cells = json.loads(exported["cells"])["features"]
    assert cells[0]["geometry"] == json.loads(database.scalar(db, "SELECT geometry FROM cells"))
    buildings = json.loads(exported["buildings"])["features"]
    assert buildings[0]["geometry"]["coordinates"] == [outline["coordinates"]]
    households = json.loads(exported["households"])["features"]
    assert households[0]["geometry"] == {"type": "Point", "coordinates": [120.1235123, 30.2813123]}
    import_into(empty, "cells", exported["cells"], "cells.geojson")
    again = imports.preview(empty, "cells", exported["cells"], "cells.geojson")
    assert (again["add"], again["update"], again["unchanged"]) == (0, 0, 1)
