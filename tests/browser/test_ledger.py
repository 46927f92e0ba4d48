"""A grid leader watches the not-visited list empty as a member visits; a request is followed from open to
closed through the request page."""
from playwright.sync_api import expect

from fieldapp import coverage
from fieldapp.data import db as database
from tests.browser.conftest import sign_in


def one_row(server, sql, params=()):
    db = server.db()
    row = database.one(db, sql, params)
    db.close()
    return row


def test_a_visited_household_leaves_the_not_visited_list(browser, phone, live_server, monkeypatch):
    monkeypatch.setattr(coverage, "POLL_SECONDS", 1)  # the list looks for new visits every second here
    cell = one_row(live_server, "SELECT a.cell_id FROM assignments a JOIN users u ON u.id = a.user_id "
                                "WHERE u.username = 'member1' AND a.valid_to IS NULL ORDER BY a.cell_id")["cell_id"]
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", base_url=live_server.url)
    desk.set_default_timeout(10_000)
    leader = desk.new_page()
    sign_in(leader, "leader1")
    expect(leader.get_by_role("heading", name="走访覆盖", exact=True)).to_be_visible()
    leader.locator(f'tr[data-cell-id="{cell}"]').get_by_role("link", name="未走访").click()
    rows = leader.locator("#not-visited .household-row[data-household-id]")
    expect(rows.first).to_be_visible()
    household_id = int(rows.first.get_attribute("data-household-id"))
    point = one_row(live_server, "SELECT COALESCE(h.lat, b.lat) AS lat, COALESCE(h.lon, b.lon) AS lon FROM households h "
                                 "LEFT JOIN buildings b ON b.id = h.building_id WHERE h.id = ?", [household_id])

    phone.context.set_geolocation({"latitude": point["lat"], "longitude": point["lon"]})
    sign_in(phone, "member1")
    phone.goto(f"/households/{household_id}/visits/new")
    expect(phone.locator("#location-status")).to_contain_text("已定位")
    phone.get_by_label("见到居民").check()
    phone.get_by_role("button", name="保存走访").click()
    expect(phone.get_by_role("status").filter(has_text="走访已保存")).to_be_visible()  # the form has statuses too

    expect(leader.locator(f'#not-visited [data-household-id="{household_id}"]')).to_have_count(0)
    expect(leader.locator(f'#just-visited [data-household-id="{household_id}"]')).to_contain_text("已走访")
    desk.close()


def test_a_request_from_open_to_closed(phone, live_server):
    sign_in(phone, "member1")
    phone.get_by_role("link", name="群众台账").first.click()
    phone.locator("select[name=status]").select_option(label="待处理")
    row = phone.locator(".ledger-row").first
    expect(row).to_contain_text("待处理")
    request_id = int(row.get_attribute("data-request-id"))
    row.locator(".ledger-link").click()

    phone.get_by_label("已做的工作").fill("已联系物业，约好周五上门")
    phone.get_by_role("button", name="保存进展").click()
    expect(phone.locator(".request-state")).to_contain_text("处理中")
    phone.get_by_label("办理结果").fill("物业已修好")
    phone.get_by_role("button", name="解决", exact=True).click()
    expect(phone.locator(".request-state")).to_contain_text("已解决")
    expect(phone.locator("#return-visit")).to_be_visible()
    phone.get_by_label("上门").check()
    phone.get_by_label("居民意见").fill("很满意")
    phone.get_by_role("button", name="办结", exact=True).click()

    expect(phone.locator(".request-state")).to_contain_text("已办结")
    expect(phone.locator(".events .event").last).to_contain_text("回访: 满意")
    db = live_server.db()
    kinds = [r["kind"] for r in database.rows(db, "SELECT kind FROM request_events WHERE request_id = ? ORDER BY id",
                                              [request_id])]
    status = database.scalar(db, "SELECT status FROM requests WHERE id = ?", [request_id])
    db.close()
    assert kinds[-3:] == ["progress", "resolved", "return_visit"] and status == "closed"


def test_the_printed_checklist_has_one_page_per_cell(browser, live_server):
    import re

    desk = browser.new_context(locale="zh-CN", base_url=live_server.url)
    page = desk.new_page()
    sign_in(page, "leader1")
    page.goto("/coverage/print")
    cells = page.locator(".print-cell").count()
    expect(page.locator(".print-cell").first).to_contain_text("网格长（签字）")
    pdf = page.pdf(format="A4")
    desk.close()
    assert cells > 1 and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == cells
