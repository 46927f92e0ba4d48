"""The member's inbox ("Today") at the top of their list: its sections, and the same inbox in the page the offline
copy keeps."""
import re
from datetime import timedelta

import pytest

from fieldapp import rules
from fieldapp.data.db import insert, write
from tests import factories


@pytest.fixture
def world(db):
    """Member m1 with cell A (four households: never visited, visited long ago, visited today, one with a resolved
    request) and cell B, taken from them three days ago; another member's cell C."""
    grid = factories.make_grid(db)
    cell_a = factories.make_cell(db, grid, name="甲微网格")
    cell_b = factories.make_cell(db, grid, name="乙微网格")
    cell_c = factories.make_cell(db, grid, name="丙微网格")
    m1 = factories.make_user(db, "member", "m1")
    m2 = factories.make_user(db, "member", "m2")
    lead = factories.make_user(db, "leader", "lead", grid_id=grid)
    now = rules.utcnow()
    factories.assign(db, cell_a, m1, valid_from=rules.iso(now - timedelta(days=2)))
    factories.assign(db, cell_b, m1, valid_from="2020-01-01T00:00:00Z", valid_to=rules.iso(now - timedelta(days=3)))
    factories.assign(db, cell_c, m2)
    old = "2020-01-01T00:00:00Z"
    never = factories.make_household(db, cell_a, address="一号 101", created_at=old)
    long_ago = factories.make_household(db, cell_a, address="一号 102", created_at=old)
    today = factories.make_household(db, cell_a, address="一号 103", created_at=old)
    resolved = factories.make_household(db, cell_a, address="一号 104", created_at=old)
    other = factories.make_household(db, cell_c, address="三号 301", created_at=old)
    factories.make_visit(db, long_ago, m1, rules.iso(now - timedelta(days=60)))
    factories.make_visit(db, today, m1)
    factories.make_visit(db, resolved, m1)
    day = rules.today(rules.SHANGHAI)
    factories.make_request(db, today, m1, due_date=(day - timedelta(days=2)).isoformat(), category="medical")
    factories.make_request(db, long_ago, m1, due_date=(day + timedelta(days=3)).isoformat(), category="housing")
    factories.make_request(db, long_ago, m1, due_date=(day + timedelta(days=4)).isoformat(), category="employment")
    factories.make_request(db, resolved, m1, status="resolved")
    factories.make_request(db, other, m2, due_date=(day - timedelta(days=1)).isoformat())
    visit = factories.make_visit(db, today, m1)
    with write(db):
        insert(db, "review_events", {"subject": "visit", "subject_id": visit, "user_id": lead,
                                     "at": rules.iso(now), "action": "ask", "note": "位置为何偏离？"})
    return {"never": never, "long_ago": long_ago, "today": today, "resolved": resolved, "other": other}


def inbox_of(page):
    """The inbox section of a page, whitespace folded."""
    start = page.index('id="inbox"')
    return re.sub(r"\s+", " ", page[start:page.index('id="prepare-offline"')])


def test_the_inbox_lists_what_is_due_today_in_order_of_urgency(auth, client, world):
    auth.login("m1")
    inbox = inbox_of(client.get("/households/?lang=en").get_data(as_text=True))
    assert '<h2 id="inbox-heading">Today</h2>' in inbox
    # Due: the one visited 60 days ago with open requests first (rules.urgency_key), then the one never visited.
    assert "Households due: 2" in inbox
    due = inbox[inbox.index("inbox-due"):inbox.index("inbox-requests")]
    assert due.index("一号 102") < due.index("一号 101") and "一号 103" not in due and "一号 104" not in due
    # Requests: overdue and due within three days (not in four), of their cells only.
    requests = inbox[inbox.index("inbox-requests"):inbox.index("inbox-returns")]
    assert "Requests due within 3 days or overdue: 2" in requests
    assert requests.index("Medical care") < requests.index("overdue since") < requests.index("Housing")
    assert "三号 301" not in inbox and "Employment" not in requests
    returns = inbox[inbox.index("inbox-returns"):]
    assert "Return visits due: 1" in returns and "一号 104" in returns
    # Cells given and taken since the last sign-in, at least the last 7 days.
    assert "New: 甲微网格" in inbox and "Ended: 乙微网格" in inbox and "丙微网格" not in inbox
    # The leader's question is in the inbox, once on the page.
    assert "位置为何偏离？" in inbox and inbox.count("Questions from the grid leader") == 1


def test_the_inbox_is_in_chinese_and_only_on_a_members_list(auth, client, world):
    auth.login("m1")
    page = client.get("/households/?lang=zh").get_data(as_text=True)
    assert '<h2 id="inbox-heading">今日</h2>' in page and "我的服务记录" in page
    auth.logout()
    auth.login("lead")
    assert 'id="inbox"' not in client.get("/households/").get_data(as_text=True)


def test_the_offline_copy_keeps_the_list_with_its_inbox(auth, client, world):
    auth.login("m1")
    manifest = client.get("/api/offline-manifest").get_json()
    assert "/households/" in manifest["urls"]
    kept = client.get("/households/", headers={"X-Offline-Copy": manifest["token"]})
    assert kept.headers["X-Offline-Keep"] == "1"  # the service worker keeps this very answer
    inbox = inbox_of(kept.get_data(as_text=True))
    assert "一号 101" in inbox and "一号 104" in inbox and "位置为何偏离？" in inbox
