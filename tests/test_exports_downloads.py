"""The download helper and every export route: hostile text typed at the door never runs as a formula in the
file, and every export writes its audit entry (with no personal data in it)."""
import csv
import io
import json
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from fieldapp import rules
from fieldapp.data import db as database
from fieldapp.data import visits
from fieldapp.exports import downloads, kinds
from tests import factories

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")
HOSTILE = {"address": '=HYPERLINK("http://evil","x")', "resident": "+1+1", "request": "-2+3", "cell": "@SUM(A1)",
           "member": "\t=1", "grid": "\r=1", "code": "-C1", "notes": "=1+2", "second": "+SUM(1)", "room": "@1"}


@pytest.fixture
def hostile(db):
    """A grid whose every typed name is hostile: a member idle for 20 days, one household visited then,
    one never visited with an overdue request; admin boss."""
    grid = factories.make_grid(db, name=HOSTILE["grid"])
    cell = factories.make_cell(db, grid, name=HOSTILE["cell"], code=HOSTILE["code"])
    member = factories.make_user(db, "member", "m1", display_name=HOSTILE["member"])
    factories.make_user(db, "admin", "boss")
    factories.assign(db, cell, member)
    long_ago = rules.iso(rules.utcnow() - timedelta(days=70))
    building = factories.make_building(db, cell, name=HOSTILE["cell"])
    visited = factories.make_household(db, cell, building, address=HOSTILE["address"], room=HOSTILE["room"],
                                       created_at=long_ago)
    never = factories.make_household(db, cell, address=HOSTILE["second"], created_at=long_ago)
    resident = factories.make_resident(db, visited, name=HOSTILE["resident"], phone="+8613812341234")
    at = rules.iso(rules.utcnow() - timedelta(days=20))
    visits.record(db, {"uuid": "hostile-visit", "household_id": visited, "user_id": member, "visited_at": at,
                       "received_at": at, "location_flag": "no_location", "outcome": "met", "notes": HOSTILE["notes"],
                       "residents_met": json.dumps([resident])})
    for household in (visited, never):
        factories.make_request(db, household, member, description=HOSTILE["request"],
                               due_date=(rules.today() - timedelta(days=3)).isoformat())
    return {"resident": resident}


def every_export(resident_id):
    """Every export route with its format: coverage and overdue (each table), admin, a resident's data."""
    urls = [("/coverage/export?format=xlsx", "xlsx")]
    urls += [(f"/coverage/export?format=csv&table={t}", "csv") for t in ("cells", "members", "households")]
    urls += [("/overdue/export?format=xlsx", "xlsx")]
    urls += [(f"/overdue/export?format=csv&table={t}", "csv")
             for t in ("requests", "people", "cells", "members", "households")]
    urls += [(f"/admin/export/{kind}.{fmt}", fmt) for kind, formats in kinds.FORMATS.items() for fmt in formats]
    urls += [(f"/privacy/residents/{resident_id}/export.{fmt}", fmt) for fmt in ("json", "csv")]
    return urls


def cells_of(content, fmt):
    """Every cell's value of a CSV or .xlsx file, failing on a formula cell."""
    if fmt == "csv":
        assert content.startswith("\ufeff".encode("utf-8"))
        return [value for row in csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")) for value in row]
    book = load_workbook(io.BytesIO(content))
    found = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in found if cell.data_type == "f"], "a formula cell"
    return [cell.value for cell in found]


def test_every_export_route_writes_no_live_formula_and_is_audited(auth, client, db, hostile):
    auth.login("boss")
    typed = set(HOSTILE.values())
    seen = set()
    for url, fmt in every_export(hostile["resident"]):
        before = database.scalar(db, "SELECT max(id) FROM audit_log")
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store"
        assert "filename*=UTF-8''" in response.headers["Content-Disposition"], url
        if fmt in ("csv", "xlsx"):
            values = cells_of(response.data, fmt)
            live = [v for v in values if isinstance(v, str) and v.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(v)]
            assert live == [], url
            quoted = {v[1:] for v in values if isinstance(v, str) and v.startswith("'")} & typed
            assert quoted, f"{url}: the hostile text did not reach the export"
            seen |= quoted
        else:
            json.loads(response.data)
        entries = database.rows(db, "SELECT action, target_type, detail FROM audit_log WHERE id > ? "
                                    "AND action IN ('export', 'export_resident')", [before])
        assert len(entries) == 1, url
        detail = json.loads(entries[0]["detail"])
        assert detail["format"] == fmt
        assert not [text for text in typed if text in entries[0]["detail"]], url  # no personal data in the log
        if entries[0]["action"] == "export":
            assert "rows" in detail and "scope" in detail, url
    assert seen == typed  # every hostile text reached some spreadsheet, quoted


def test_coverage_and_overdue_exports_say_what_was_taken(auth, client, db, hostile):
    auth.login("boss")
    client.get("/coverage/export?format=csv&table=members&period=last-month")
    client.get("/overdue/export?format=xlsx")
    logged = database.rows(db, "SELECT user_id, target_type, detail, ip FROM audit_log WHERE action = 'export' "
                               "ORDER BY id")
    coverage, overdue = [{**entry, "detail": json.loads(entry["detail"])} for entry in logged]
    month = rules.add_months(rules.today(), -1).strftime("%Y-%m")
    assert coverage["target_type"] == "coverage" and coverage["ip"] == "127.0.0.1"
    assert coverage["detail"] == {"format": "csv", "period": month, "scope": "all", "tables": "members", "rows": 1,
                                  "personal": False}
    assert overdue["target_type"] == "overdue" and overdue["detail"]["personal"] is True
    assert (overdue["detail"]["tables"], overdue["detail"]["rows"]) == (
        "requests, people, cells, members, households, platforms", 2 + 1 + 1 + 1 + 1 + 0)  # no late referral


def test_a_download_names_its_file_in_ascii_and_in_utf8(app):
    assert downloads.disposition("覆盖率-2026-11.csv") == \
        "attachment; filename=\"2026-11.csv\"; filename*=UTF-8''%E8%A6%86%E7%9B%96%E7%8E%87-2026-11.csv"
    assert downloads.disposition('a"b;\r\nc.xlsx') == \
        "attachment; filename=\"a_b_c.xlsx\"; filename*=UTF-8''a%22b%3B%0D%0Ac.xlsx"
    with app.test_request_context():
        response = downloads.attachment(b"x", "households.geojson")
    assert response.mimetype == "application/geo+json" and response.headers["Cache-Control"] == "no-store"
