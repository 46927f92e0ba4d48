"""No signal in the stairwell: the app still opens, visits wait on the phone and reach the server once."""
import re

from playwright.sync_api import expect

from fieldapp.data import db as database
from tests.browser.conftest import sign_in, wait_for_service_worker


def count_visits(server, household_ids):
    db = server.db()
    marks = ", ".join("?" * len(household_ids))
    total = database.scalar(db, f"SELECT count(*) FROM visits WHERE household_id IN ({marks})", list(household_ids))
    db.close()
    return total


def signed_in_and_prepared(phone):
    """Sign in as member1: the offline copy is made at once; "Prepare for offline" makes it again."""
    sign_in(phone, "member1")
    wait_for_service_worker(phone)
    status = phone.locator("#offline-status")
    expect(status).to_have_attribute("data-prepared-at", re.compile("."), timeout=90_000)
    first = status.get_attribute("data-prepared-at")
    phone.get_by_role("button", name="离线准备").click()
    expect(status).not_to_have_attribute("data-prepared-at", first, timeout=90_000)
    expect(status).to_contain_text("离线副本")


def back_online(phone):
    """The signal returns. A page that opened without signal believes it is online (Chromium applies the
    emulated offline to it only at the next change) and would hear no "online": so online, offline, online."""
    for offline in (False, True, False):
        phone.context.set_offline(offline)


def record_visit_offline(phone, household_id, note):
    phone.goto(f"/households/{household_id}")
    phone.get_by_role("link", name="记录走访").click()
    phone.get_by_label("见到居民").check()
    phone.get_by_label("备注").fill(note)
    phone.get_by_role("button", name="保存走访").click()
    expect(phone.locator("#pending-visits")).to_contain_text("等待发送")
    expect(phone.locator("#pending-visits")).to_contain_text(note)


def test_visits_recorded_without_signal_are_sent_exactly_once(phone, live_server):
    signed_in_and_prepared(phone)
    ids = [int(x) for x in phone.locator(".household-row").evaluate_all("rows => rows.map(r => r.dataset.householdId)")[:3]]
    before = count_visits(live_server, ids)

    live_server.stop()
    phone.context.set_offline(True)
    for number, household_id in enumerate(ids):
        record_visit_offline(phone, household_id, f"离线走访 {number}")
    phone.reload()
    expect(phone.locator("#queue-count")).to_have_text("等待发送：3")
    phone.goto("/households/")
    expect(phone.locator(".household-row .waiting-badge")).to_have_count(3)
    assert count_visits(live_server, ids) == before

    live_server.start()
    back_online(phone)
    expect(phone.locator("#queue-bar")).to_be_hidden(timeout=20_000)
    assert count_visits(live_server, ids) == before + 3
    assert phone.evaluate("offlineQueue.all().then(items => items.length)") == 0


def test_lost_answer_then_retry_still_stores_one_visit(phone, live_server):
    signed_in_and_prepared(phone)
    household_id = int(phone.locator(".household-row").nth(5).get_attribute("data-household-id"))
    before = count_visits(live_server, [household_id])

    signal = {"drop_answers": True}

    def store_then_drop_the_answer(route):
        if not signal["drop_answers"]:
            return route.continue_()
        route.fetch()  # the server stores the batch ...
        route.abort()  # ... and the phone never hears back

    phone.route("**/api/visits", store_then_drop_the_answer)
    phone.goto(f"/households/{household_id}/visits/new")
    phone.get_by_label("无人在家").check()
    phone.get_by_role("button", name="保存走访").click()
    expect(phone.locator("#pending-visits")).to_contain_text("等待发送")
    assert count_visits(live_server, [household_id]) == before + 1

    expect(phone.locator("#queue-count")).to_have_text("等待发送：1")
    signal["drop_answers"] = False
    # The button's own handler (a timed retry may have sent it already and hidden the bar, and with it the
    # button from role queries: found by its id, so the click is dispatched either way; once only in the end).
    phone.locator("#send-now").dispatch_event("click")
    expect(phone.locator("#queue-bar")).to_be_hidden(timeout=20_000)
    assert count_visits(live_server, [household_id]) == before + 1


def test_installable_without_errors(playwright_instance, live_server, tmp_path):
    # Installability is judged in a normal profile: an incognito context is never installable.
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    device = {k: v for k, v in playwright_instance.devices["Pixel 5"].items() if k != "default_browser_type"}
    context = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, base_url=live_server.url,
        locale="zh-CN", **device)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        sign_in(page, "member1")
        wait_for_service_worker(page)
        cdp = context.new_cdp_session(page)
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        assert cdp.send("Page.getAppManifest")["errors"] == []
    finally:
        context.close()


def test_sign_out_clears_the_kept_pages(phone):
    signed_in_and_prepared(phone)
    assert phone.evaluate("caches.open('fieldapp-pages').then(c => c.keys()).then(k => k.length)") > 100
    phone.get_by_role("button", name="退出").click()
    expect(phone.get_by_role("heading", name="登录")).to_be_visible()
    assert phone.evaluate("caches.keys().then(names => names.includes('fieldapp-pages'))") is False


def test_inside_wechat_the_member_is_told_how_to_work_offline(browser, playwright_instance, live_server):
    device = dict(playwright_instance.devices["Pixel 5"])
    device["user_agent"] += " MicroMessenger/8.0.49.2600(0x28003133) WeChat/arm64 NetType/4G Language/zh_CN"
    context = browser.new_context(**device, locale="zh-CN", base_url=live_server.url)
    try:
        page = context.new_page()
        sign_in(page, "member1")
        expect(page.locator("#wechat-banner")).to_be_visible()
        expect(page.locator("#wechat-banner")).to_contain_text("在浏览器中打开")
    finally:
        context.close()
