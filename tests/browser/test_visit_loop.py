"""A member on a phone: the most urgent household first, a visit recorded with its location."""
import re

from playwright.sync_api import expect

from fieldapp.data import db as database
from tests.browser.conftest import sign_in


def household_point(server, household_id):
    db = server.db()
    row = database.one(db, "SELECT COALESCE(h.lat, b.lat) AS lat, COALESCE(h.lon, b.lon) AS lon FROM households h "
                           "LEFT JOIN buildings b ON b.id = h.building_id WHERE h.id = ?", [household_id])
    db.close()
    return row


def visits_of(server, household_id):
    db = server.db()
    rows = database.rows(db, "SELECT * FROM visits WHERE household_id = ? ORDER BY id", [household_id])
    db.close()
    return rows


def row_ids(page):
    return [int(x) for x in page.locator(".household-row").evaluate_all("rows => rows.map(r => r.dataset.householdId)")]


def test_record_a_visit_with_a_request_and_a_follow_up(phone, live_server):
    sign_in(phone, "member1")
    first = phone.locator(".household-row").first
    expect(first.locator(".status")).to_contain_text("诉求逾期")
    household_id = int(first.get_attribute("data-household-id"))
    point = household_point(live_server, household_id)
    phone.context.set_geolocation({"latitude": point["lat"] + 0.0001, "longitude": point["lon"]})
    before = len(visits_of(live_server, household_id))

    first.get_by_role("link").click()
    phone.get_by_role("link", name="记录走访").click()
    expect(phone.locator("#location-status")).to_contain_text("已定位 ±")
    phone.get_by_label("见到居民").check()
    phone.get_by_label("备注").fill("老人身体还好，楼道灯已报修")
    phone.get_by_text("添加诉求").click()
    phone.get_by_label("类别").select_option(label="医疗")
    phone.get_by_label("描述").fill("需要家庭医生上门")
    phone.locator("select[id^=followup_]").first.select_option("progress")
    phone.locator("textarea[id^=followup_note_]").first.fill("已联系社区卫生服务中心")
    phone.get_by_role("button", name="保存走访").click()

    expect(phone.get_by_role("status").filter(has_text="走访已保存")).to_be_visible()  # the form has statuses too
    newest = phone.locator(".timeline .visit").first
    expect(newest).to_contain_text("老人身体还好")
    expect(newest).to_contain_text("位置正常")
    expect(newest).to_contain_text("需要家庭医生上门")
    expect(newest).to_contain_text("已联系社区卫生服务中心")
    stored = visits_of(live_server, household_id)
    assert len(stored) == before + 1
    assert stored[-1]["location_flag"] == "ok" and stored[-1]["distance_m"] < 30


def test_a_visited_household_moves_down_the_list(phone, live_server):
    sign_in(phone, "member1")
    due = phone.locator(".household-row", has=phone.locator(".status-due")).first
    household_id = int(due.get_attribute("data-household-id"))
    position_before = row_ids(phone).index(household_id)
    point = household_point(live_server, household_id)
    phone.context.set_geolocation({"latitude": point["lat"], "longitude": point["lon"]})
    due.get_by_role("link").click()
    phone.get_by_role("link", name="记录走访").click()
    expect(phone.locator("#location-status")).to_contain_text("已定位")
    phone.get_by_label("在别处见到").check()  # a contact: only a contact makes the household visited
    phone.get_by_role("button", name="保存走访").click()
    expect(phone.locator(".household-summary .status")).to_contain_text("本周期已走访")
    phone.get_by_role("link", name="我的住户").first.click()
    row = phone.locator(f'.household-row[data-household-id="{household_id}"]')
    expect(row.locator(".status")).to_contain_text("本周期已走访")
    assert row_ids(phone).index(household_id) > position_before


def test_double_tap_on_save_records_one_visit(phone, live_server):
    sign_in(phone, "member1")
    row = phone.locator(".household-row").nth(3)
    household_id = int(row.get_attribute("data-household-id"))
    before = len(visits_of(live_server, household_id))
    phone.goto(f"/households/{household_id}/visits/new")
    expect(phone.locator("#location-status")).to_contain_text("已定位")
    phone.get_by_label("见到居民").check()
    phone.get_by_role("button", name="保存走访").dblclick()
    expect(phone.get_by_role("status").filter(has_text="已保存")).to_be_visible()
    assert len(visits_of(live_server, household_id)) == before + 1


def test_visit_without_location_when_permission_is_denied(phone, live_server):
    phone.context.clear_permissions()
    sign_in(phone, "member1")
    household_id = int(phone.locator(".household-row").nth(1).get_attribute("data-household-id"))
    phone.goto(f"/households/{household_id}/visits/new")
    expect(phone.locator("#location-status")).to_contain_text("无法定位")
    phone.get_by_label("见到居民").check()
    phone.get_by_role("button", name="保存走访").click()
    expect(phone.locator(".timeline .visit").first).to_contain_text("无定位")
    assert visits_of(live_server, household_id)[-1]["location_flag"] == "no_location"


def test_nearest_first_orders_by_distance_from_the_phone(phone, live_server):
    sign_in(phone, "member1")
    ids = row_ids(phone)
    target = ids[-1]  # the least urgent household: nearest first must bring it to the top
    point = household_point(live_server, target)
    phone.context.set_geolocation({"latitude": point["lat"], "longitude": point["lon"]})
    phone.get_by_role("link", name="离我最近").click()
    expect(phone.locator("#nearest-first")).to_have_class(re.compile(r"\bprimary\b"))
    assert "lat=" not in phone.url and "lon=" not in phone.url  # where the member stands stays out of URLs
    first_group = phone.locator(".household-group").first
    expect(first_group.locator(f'.household-row[data-household-id="{target}"]')).to_have_count(1)
    expect(first_group).to_contain_text(" m")
