"""Hotline work orders: an order checked (times, category, address), entered by hand and imported in a batch (all or
nothing, row-level errors, duplicate numbers), overdue by its own deadline, and the replies read back."""
import csv
import io
from datetime import datetime, timezone

import pytest
from openpyxl import load_workbook

from fieldapp import rules
from fieldapp.data import db as database
from fieldapp.data import ledger
from fieldapp.exports import tables
from fieldapp.imports import hotline as orders
from tests import factories

CATEGORIES = [{"code": "sanitation", "label": "环境卫生"}, {"code": "medical", "label": "医疗"},
              {"code": "other", "label": "其他"}]
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
GOOD = {"order_no": "12345-1", "received_at": "2026-11-30 09:00", "deadline": "2026-12-03", "source": "",
        "original_category": "市容环境", "category": "", "description": "楼道灯不亮", "building": "3号楼",
        "unit": "2", "room": "301"}


def test_an_order_is_checked_and_mapped():
    order, errors = orders.check_order(GOOD, categories=CATEGORIES, tz=rules.SHANGHAI, now=NOW)
    assert errors == {}
    assert order["category"] == "sanitation" and order["source"] == "12345"
    assert order["received_at"] == "2026-11-30T01:00:00Z"
    assert order["deadline"] == "2026-12-03T15:59:59Z" and order["due_date"] == "2026-12-03"  # a day: its end
    bad = {**GOOD, "order_no": "12 345", "received_at": "2026-12-02 09:00", "deadline": "昨天",
           "original_category": "不明", "description": ""}
    _order, errors = orders.check_order(bad, categories=CATEGORIES, tz=rules.SHANGHAI, now=NOW)
    assert {field: found["code"] for field, found in errors.items()} == {
        "order_no": "order_no", "received_at": "future_time", "deadline": "bad_time", "category": "unknown_category",
        "description": "required"}
    _order, errors = orders.check_order({**GOOD, "deadline": "2026-11-29 12:00", "category": "医疗"},
                                        categories=CATEGORIES, tz=rules.SHANGHAI, now=NOW)
    assert errors["deadline"]["code"] == "deadline_before" and _order["category"] == "medical"


@pytest.fixture
def world(db):
    """Grid A: cell A1 of member m1 with 3号楼 (2-301, 2-302), led by `lead`; grid B: its own 3号楼 (2-301)."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1, b1 = factories.make_cell(db, grid_a), factories.make_cell(db, grid_b, lon=120.2)
    m1 = factories.make_user(db, "member", "m1", display_name="张三")
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    factories.assign(db, a1, m1)
    building = factories.make_building(db, a1, name="3号楼")
    homes = {room: factories.make_household(db, a1, building, unit="2", room=room, address=f"3号楼2单元{room}室")
             for room in ("301", "302")}
    other = factories.make_building(db, b1, name="3号楼", lon=120.2005)
    factories.make_household(db, b1, other, unit="2", room="301", address="乙区3号楼2单元301室")
    return {"m1": m1, "homes": homes, "building": building}


def _enter(client, auth, **form):
    return client.post("/hotline/new", data={"csrf_token": auth.csrf_token("/hotline/new"), **GOOD, **form})


def test_entering_an_order(auth, client, db, world):
    auth.login("lead")
    uuid = "6f1c2b9e-3c1d-4a55-9e0b-5a7c1d2e3f41"
    entered = _enter(client, auth, uuid=uuid, received_at="2026-11-30T09:00", deadline="2026-12-03T17:30",
                     room="301室", unit="2单元")
    assert entered.status_code == 303
    request_id = int(entered.headers["Location"].rsplit("/", 1)[1])
    assert database.one(db, "SELECT household_id, channel, due_date, category, responsible_user_id FROM requests "
                            "WHERE id = ?", [request_id]) == {
        "household_id": world["homes"]["301"], "channel": "hotline", "due_date": "2026-12-03",
        "category": "sanitation", "responsible_user_id": world["m1"]}
    assert database.one(db, "SELECT order_no, deadline, source FROM hotline_orders WHERE request_id = ?",
                        [request_id]) == {"order_no": "12345-1", "deadline": "2026-12-03T09:30:00Z", "source": "12345"}
    page = client.get(f"/ledger/{request_id}?lang=en").get_data(as_text=True)
    assert "12345-1" in page and "2026-12-03 17:30" in page and "from a hotline work order" in page
    assert _enter(client, auth, uuid=uuid).status_code == 303  # the same form resent: nothing more
    again = _enter(client, auth, uuid="1d2e3f40-6f1c-4b9e-8c1d-4a559e0b5a7c", room="302")
    assert again.status_code == 422
    assert f"Order 12345-1 is already in the ledger (request {request_id})." in again.get_data(as_text=True)
    assert database.scalar(db, "SELECT count(*) FROM requests") == 1


def test_an_order_without_unit_and_room_stays_on_the_building(auth, client, db, world):
    auth.login("lead")
    entered = _enter(client, auth, order_no="12345-9", unit="", room="", description="楼道灯坏了")
    request_id = int(entered.headers["Location"].rsplit("/", 1)[1])
    assert database.one(db, "SELECT household_id, building_id, responsible_user_id FROM requests WHERE id = ?",
                        [request_id]) == {"household_id": None, "building_id": world["building"],
                                          "responsible_user_id": world["m1"]}
    assert "12345-9" in client.get(f"/ledger/{request_id}").get_data(as_text=True)


def test_an_order_no_household_of_the_grid_matches_is_refused(auth, client, db, world):
    auth.login("lead")
    client.get("/hotline/?lang=en")
    nowhere = _enter(client, auth, order_no="12345-2", room="999").get_data(as_text=True)
    assert "No household 3号楼 2 999 in the register: check unit and room." in nowhere
    unknown = _enter(client, auth, order_no="12345-3", building="9号楼")
    assert unknown.status_code == 422 and "No building “9号楼” in your grid." in unknown.get_data(as_text=True)
    empty = _enter(client, auth, order_no="", description="", deadline="")
    assert empty.status_code == 422 and empty.get_data(as_text=True).count("Empty: a value is required.") == 3
    assert database.scalar(db, "SELECT count(*) FROM requests") == 0
    assert database.scalar(db, "SELECT count(*) FROM hotline_orders") == 0


HEADER = ["工单编号", "受理时间", "办理时限", "来源", "原始类别", "类别", "诉求内容", "楼栋", "单元", "室"]


def _batch(rows, fmt="csv"):
    return tables.write(fmt, [("工单", [(name, "text") for name in HEADER], rows)])


def _upload(client, auth, content, filename):
    sent = client.post("/hotline/import", data={"csrf_token": auth.csrf_token("/hotline/"),
                                                 "file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")
    assert sent.status_code == 303
    return sent.headers["Location"]


def test_importing_a_good_batch(auth, client, db, world):
    auth.login("lead")
    content = _batch([("A-1", "2026-11-30 09:00", "2026-12-05 17:00", "12345", "环境卫生", "", "垃圾未清运", "3号楼",
                       "2", "301"),
                      ("A-2", "2026/11/30 10:00", "2026-12-02", "市长信箱", "", "医疗", "需要家庭医生", "3号楼", "2",
                       "302")], "xlsx")
    preview = _upload(client, auth, content, "orders.xlsx")
    page = client.get(preview).get_data(as_text=True)
    assert 'data-count="add">2<' in page and 'data-count="errors">0<' in page and "3号楼2单元302室" in page
    assert database.scalar(db, "SELECT count(*) FROM requests") == 0  # the preview writes nothing
    committed = client.post(preview + "/commit", data={"csrf_token": auth.csrf_token("/hotline/")})
    assert committed.status_code == 303
    assert database.rows(db, "SELECT o.order_no, o.source, q.household_id, q.due_date, q.category FROM hotline_orders o "
                             "JOIN requests q ON q.id = o.request_id ORDER BY o.order_no") == [
        {"order_no": "A-1", "source": "12345", "household_id": world["homes"]["301"], "due_date": "2026-12-05",
         "category": "sanitation"},
        {"order_no": "A-2", "source": "市长信箱", "household_id": world["homes"]["302"], "due_date": "2026-12-02",
         "category": "medical"}]
    assert client.get(preview).status_code == 404  # a committed upload is gone


def test_a_batch_with_bad_rows_writes_nothing(auth, client, db, world):
    auth.login("lead")
    _enter(client, auth, order_no="OLD-1")
    content = _batch([("B-1", "2026-11-30 09:00", "2026-12-05 17:00", "", "环境卫生", "", "好的一行", "3号楼", "2", "301"),
                      ("B-2", "30/11/2026", "2026-12-05", "", "环境卫生", "", "时间写错", "3号楼", "2", "301"),
                      ("B-1", "2026-11-30 09:00", "2026-12-05", "", "环境卫生", "", "重复编号", "3号楼", "2", "302"),
                      ("OLD-1", "2026-11-30 09:00", "2026-12-05", "", "环境卫生", "", "已录入", "3号楼", "2", "302"),
                      ("B-4", "2026-11-30 09:00", "2026-12-05", "", "环境卫生", "", "别的网格", "3号楼", "2", "303")])
    preview = _upload(client, auth, content, "orders.csv")
    page = client.get(preview + "?lang=en").get_data(as_text=True)
    for line in ("Row 3", "“30/11/2026” is not a date and time such as 2026-12-01 09:30.",
                 "Row 4", "“B-1” appears more than once (first in Row 2).", "Row 5", "Order OLD-1 is already in the ledger",
                 "Row 6", "No household 3号楼 2 303 in the register"):
        assert line in page, line
    assert 'data-count="errors">4<' in page and "Commit import" not in page
    refused = client.post(preview + "/commit", data={"csrf_token": auth.csrf_token("/hotline/")})
    assert refused.status_code == 422
    assert database.scalar(db, "SELECT count(*) FROM hotline_orders") == 1  # OLD-1 alone
    not_a_table = _upload(client, auth, b"\x00\x01binary", "orders.csv")
    assert "not a GeoJSON, CSV or Excel file" in client.get(not_a_table).get_data(as_text=True)


def test_the_order_deadline_makes_it_overdue(auth, client, db, world):
    auth.login("lead")
    today = rules.today().isoformat()
    _enter(client, auth, order_no="LATE-1", received_at="2026-01-05 09:00", deadline="2026-01-06 12:00")
    _enter(client, auth, order_no="SOON-1", received_at="2026-11-30 09:00", deadline="2027-01-06 12:00",
           room="302")
    late = ledger.overdue(db, None, today)
    assert [q["due_date"] for q in late] == ["2026-01-06"]
    page = client.get("/hotline/?lang=en").get_data(as_text=True)
    page = page[page.index('<ul class="requests-list'):]
    assert page.index("LATE-1") < page.index("Overdue · deadline 2026-01-06 12:00") < page.index("SOON-1")
    assert page.count("Overdue") == 1


def test_replies_export_read_back(auth, client, db, world):
    auth.login("lead")
    resolved = int(_enter(client, auth, order_no="R-1").headers["Location"].rsplit("/", 1)[1])
    _enter(client, auth, order_no="R-2", room="302")
    ledger.apply(db, resolved, "resolve", user_id=world["m1"], at="2026-12-01T03:04:05Z",
                 note="=已更换楼道灯")  # formula-like: the file keeps it text
    sheet = load_workbook(io.BytesIO(client.get("/hotline/replies.xlsx").data)).worksheets[0]
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        ["工单编号", "办理状态", "答复内容", "办结时间"], ["R-1", "已办结", "'=已更换楼道灯", "2026-12-01 11:04:05"],
        ["R-2", "待办理", None, None]]
    text = client.get("/hotline/replies.csv").data.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1] == ["R-1", "已办结", "'=已更换楼道灯", "2026-12-01 11:04:05"]
    assert database.rows(db, "SELECT order_no FROM hotline_orders WHERE reply_exported_at IS NOT NULL") == [
        {"order_no": "R-1"}]
