"""The member's inbox on a phone: "今日" at the top of their list, with the households due and the requests due, and
the same inbox without signal, from the offline copy."""
import re
from datetime import date, timedelta

from playwright.sync_api import expect

from fieldapp import rules
from fieldapp.clock import clock
from fieldapp.data import cells, households
from fieldapp.data import db as database
from fieldapp.data.db import in_clause
from tests import factories
from tests.browser.conftest import sign_in, wait_for_service_worker
from tests.browser.test_offline_copy import wait_until_kept


def arranged(server):
    """A request due today on one of member1's households; what the inbox must then show: the number of households
    due, the most urgent one's address, the requests due within three days or overdue, and the new request's
    address."""
    db = server.db()
    try:
        with server.app.test_request_context():
            member = database.scalar(db, "SELECT id FROM users WHERE username = 'member1'")
            scope = cells.assigned_cell_ids(db, member, rules.iso(rules.utcnow()))
            now = clock(db)
            listed = households.with_status(db, now, cell_ids=scope)
            target = next(h for h in listed if h["occupancy"] == "occupied" and not h["needs_visit"])
            factories.make_request(db, target["id"], member, category="housing", due_date=now["today"],
                                   description="收件箱测试")
            listed = households.with_status(db, now, cell_ids=scope)
        due = sorted((h for h in listed if h["occupancy"] == "occupied" and h["needs_visit"]), key=rules.urgency_key)
        params = {"until": (date.fromisoformat(now["today"]) + timedelta(days=3)).isoformat(), "m": member}
        soon = database.scalar(db, "SELECT count(*) FROM requests q LEFT JOIN households h ON h.id = q.household_id "
                                   "WHERE q.status IN ('open', 'in_progress') AND q.due_date <= :until AND ("
                                   f"{in_clause('h.cell_id', scope, params, 'c')} OR q.responsible_user_id = :m)",
                               params)
        return {"due": len(due), "first": due[0]["address"], "requests": soon, "address": target["address"]}
    finally:
        db.close()


def check_inbox(phone, expected):
    inbox = phone.locator("#inbox")
    expect(inbox.get_by_role("heading", name="今日", exact=True)).to_be_visible()
    expect(inbox.get_by_role("heading", name=f"待走访住户：{expected['due']} 户")).to_be_visible()
    expect(inbox.locator(".inbox-list").first.locator("li").first).to_contain_text(expected["first"])
    requests = inbox.locator("section[aria-labelledby='inbox-requests']")
    expect(requests.get_by_role("heading")).to_have_text(re.compile(f"：{expected['requests']} 件$"))
    expect(requests.get_by_role("link", name=re.compile(re.escape(expected["address"]) + " · 住房"))).to_be_visible()


def test_the_inbox_shows_today_on_the_phone_and_without_signal(phone, live_server):
    expected = arranged(live_server)
    sign_in(phone, "member1")
    assert phone.url.endswith("/households/")
    check_inbox(phone, expected)
    box = phone.locator("#inbox").bounding_box()
    assert box["y"] < phone.locator(".filters").bounding_box()["y"] and box["width"] <= 393  # first, within the phone

    wait_for_service_worker(phone)
    wait_until_kept(phone, "/households/")  # the copy's first page; the rest may still be on its way
    phone.context.set_offline(True)
    phone.goto("/households/")
    check_inbox(phone, expected)  # the kept page, inbox and all
    expect(phone.locator("#inbox")).to_contain_text("截至")
