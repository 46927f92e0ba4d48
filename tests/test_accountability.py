"""Accountability: overdue requests by person and by cell with days late, idle members, households due
for longer than a cycle; the page and its exports checked row by row."""
import csv
import io
import re
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from fieldapp import rules
from fieldapp.data import db as database
from tests import factories


@pytest.fixture
def world(db):
    """Grid A: cells A1 (m1, busy) and A2 (m2, idle for 20 days); grid B: B1 (m3, never visited)."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1, a2 = factories.make_cell(db, grid_a, name="甲一区"), factories.make_cell(db, grid_a, name="甲二区")
    b1 = factories.make_cell(db, grid_b, name="乙一区")
    m1 = factories.make_user(db, "member", "m1", display_name="张三")
    m2 = factories.make_user(db, "member", "m2", display_name="李四")
    m3 = factories.make_user(db, "member", "m3", display_name="王五")
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    for cell, member in ((a1, m1), (a2, m2), (b1, m3)):
        factories.assign(db, cell, member)
    today = rules.today()
    long_ago = rules.iso(datetime.now().astimezone() - timedelta(days=70))
    h1 = factories.make_household(db, a1, address="甲一 1号", created_at=long_ago)
    h2 = factories.make_household(db, a2, address="甲二 1号", created_at=long_ago)
    h3 = factories.make_household(db, b1, address="乙一 1号", created_at=long_ago)
    factories.make_visit(db, h1, m1, rules.iso(datetime.now().astimezone() - timedelta(days=1)))
    factories.make_visit(db, h2, m2, rules.iso(datetime.now().astimezone() - timedelta(days=20)))
    late = {
        "m1 5": factories.make_request(db, h1, m1, due_date=(today - timedelta(days=5)).isoformat(), description="逾期五天"),
        "m1 2": factories.make_request(db, h1, m1, status="in_progress", due_date=(today - timedelta(days=2)).isoformat(),
                                       description="逾期两天"),
        "m2 9": factories.make_request(db, h2, m2, due_date=(today - timedelta(days=9)).isoformat(), description="逾期九天"),
        "b1": factories.make_request(db, h3, m3, due_date=(today - timedelta(days=1)).isoformat(), description="乙一逾期"),
    }
    factories.make_request(db, h1, m1, status="resolved", due_date="2000-01-01", description="已解决不算逾期")
    factories.make_request(db, h1, m1, due_date=today.isoformat(), description="今天到期不算逾期")
    return dict(a1=a1, a2=a2, m1=m1, m2=m2, h1=h1, h2=h2, h3=h3, late=late, today=today)


def test_overdue_grouped_by_person_and_cell(auth, client, world):
    auth.login("lead")
    body = client.get("/overdue/?lang=en").get_data(as_text=True)
    assert "<h1><span aria-hidden=\"true\">‼</span> Overdue</h1>" in body
    by_person = body.split('id="by-person"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r'<tr data-person-id="(\d+)"><th scope="row">([^<]*)</th><td[^>]*>(\d+)</td>\s*'
                      r'<td[^>]*>(\d+)</td><td[^>]*>(\d+)</td>', by_person)
    # Name, overdue requests, most days late, days late in all; two overdue before one.
    assert [row[1:] for row in rows] == [("张三", "2", "5", "7"), ("李四", "1", "9", "9")]
    assert "王五" not in body
    ledger = client.get(f"/ledger/?responsible={rows[0][0]}&overdue=1").get_data(as_text=True)
    assert "逾期五天" in ledger and "逾期两天" in ledger and "逾期九天" not in ledger
    assert "已解决不算逾期" not in ledger and "今天到期不算逾期" not in ledger
    by_cell = body.split('id="by-cell"', 1)[1].split("</section>", 1)[0]
    assert "甲一区" in by_cell and "甲二区" in by_cell


def test_idle_members_and_long_due_households(auth, client, world):
    auth.login("boss")
    body = client.get("/overdue/?lang=en").get_data(as_text=True)
    idle = body.split('id="idle-members"', 1)[1].split("</section>", 1)[0]
    assert "李四" in idle and "20 days ago" in idle and "王五" in idle and "no visit recorded" in idle
    assert "张三" not in idle
    long_due = body.split('id="long-due"', 1)[1].split("</section>", 1)[0]
    # Never visited and added 70 days ago with a 30-day cycle: due for 70 days, more than a cycle.
    assert "乙一 1号" in long_due and "due for 70 days" in long_due
    assert "甲二 1号" not in long_due and "甲一 1号" not in long_due


def test_members_may_not_open_it(auth, client, world):
    auth.login("m1")
    assert client.get("/overdue/").status_code == 403
    assert client.get("/overdue/export?format=xlsx").status_code == 403


def test_excel_export_row_by_row(auth, client, db, world):
    auth.login("lead")
    response = client.get("/overdue/export?format=xlsx")
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["逾期诉求", "按负责人", "按微网格", "14天未走访党员", "超一个周期未走访住户", "转介超时"]
    rows = list(book["逾期诉求"].iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "微网格", "地址")
    expected = database.rows(db, "SELECT q.id, q.due_date, q.status, u.display_name FROM requests q "
                                 "JOIN users u ON u.id = q.responsible_user_id JOIN households h ON h.id = q.household_id "
                                 "WHERE q.status IN ('open', 'in_progress') AND q.due_date < ? AND h.cell_id IN (?, ?) "
                                 "ORDER BY q.due_date, q.id", [world["today"].isoformat(), world["a1"], world["a2"]])
    assert [r[0] for r in rows[1:]] == [e["id"] for e in expected]
    for row, item in zip(rows[1:], expected):
        assert isinstance(row[7], datetime) and row[7].date() == date.fromisoformat(item["due_date"])
        assert row[8] == (world["today"] - date.fromisoformat(item["due_date"])).days
        assert row[6] == item["display_name"]
        assert row[5] == {"open": "待处理", "in_progress": "处理中"}[item["status"]]
    people = list(book["按负责人"].iter_rows(values_only=True))
    assert people[1:] == [("张三", 2, 5, 7), ("李四", 1, 9, 9)]
    idle = list(book["14天未走访党员"].iter_rows(values_only=True))
    assert [r[0] for r in idle[1:]] == ["李四"] and idle[1][3] == 20


def test_csv_export_of_one_table(auth, client, world):
    auth.login("lead")
    text = client.get("/overdue/export?format=csv&table=cells").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["微网格", "逾期件数", "最长逾期天数", "逾期天数合计"]
    assert sorted(rows[1:]) == [["甲一区", "2", "5", "7"], ["甲二区", "1", "9", "9"]]
