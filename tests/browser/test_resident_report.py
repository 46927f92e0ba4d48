"""A resident reports through a building's QR poster without an account (and without JavaScript), the member
triages it onto the building, the leader refers it to the health centre, whose partner account accepts, replies and
marks it done, the member resolves it, the resident rates "Not satisfied" and it is back on the member's list."""
import io
import re

from PIL import Image
from playwright.sync_api import expect

from fieldapp.data import db as database
from tests import factories
from tests.browser.conftest import sign_in


def _photo():
    out = io.BytesIO()
    Image.new("RGB", (800, 600), "gray").save(out, "JPEG")
    return {"name": "楼道灯.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


def _device(browser, playwright_instance, live_server):
    """Another person's phone: a context and page of its own."""
    context = browser.new_context(**playwright_instance.devices["Pixel 5"], locale="zh-CN", base_url=live_server.url)
    context.set_default_timeout(10_000)
    return context, context.new_page()


def test_a_residents_report_from_poster_to_rating(browser, playwright_instance, phone, live_server):
    db = live_server.db()
    building = database.one(db, "SELECT b.id, b.name FROM buildings b JOIN assignments a ON a.cell_id = b.cell_id "
                                "JOIN users u ON u.id = a.user_id WHERE u.username = 'member1' AND a.valid_to IS NULL "
                                "ORDER BY b.id LIMIT 1")
    db.close()

    # The leader makes the building's poster, reached from the ledger.
    sign_in(phone, "leader1")
    phone.goto("/ledger/")
    phone.get_by_role("link", name="二维码海报").click()
    place = phone.locator(f"#building-{building['id']}")
    place.get_by_role("button", name="生成海报").click()
    link = phone.locator(f"#building-{building['id']}").get_by_role("link", name="打开报事页面")
    report_page = link.get_attribute("href")
    assert re.fullmatch(r"/r/[A-Za-z0-9_-]{22,}", report_page)
    phone.context.clear_cookies()

    # A resident's phone: a fresh browser, no account, no JavaScript (as in a strict in-app browser).
    device = playwright_instance.devices["Pixel 5"]
    resident_context = browser.new_context(**device, locale="zh-CN", base_url=live_server.url, java_script_enabled=False)
    resident_context.set_default_timeout(10_000)
    resident = resident_context.new_page()
    resident.goto(report_page)
    expect(resident.locator(".place-name")).to_contain_text(building["name"])
    resident.get_by_label("类别").select_option(label="环境卫生")
    resident.get_by_label("描述").fill("3单元楼道灯坏了 <script>alert(1)</script>")
    resident.get_by_label("照片").set_input_files(_photo())
    resident.get_by_label("您的电话（选填）").fill("13812345678")
    resident.get_by_role("button", name="提交").click()
    expect(resident.locator(".field-error")).to_contain_text("请勾选同意")  # a phone needs the consent
    resident.get_by_label("我同意社区随本次报事保存我的姓名和电话").check()
    resident.get_by_label("照片").set_input_files(_photo())  # a refused form keeps no file
    resident.get_by_role("button", name="提交").click()
    expect(resident.locator(".tracking")).to_contain_text("查询码")
    code = resident.locator(".tracking-code").inner_text()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{10}", code)
    resident.get_by_role("link", name="查看报事进度").click()
    expect(resident.locator(".report-status")).to_contain_text("待处理")
    assert "13812345678" not in resident.content() and "138****" not in resident.content()

    # The member triages it onto the building (a broken stair light is the building's).
    sign_in(phone, "member1")
    phone.get_by_role("link", name="分拣").first.click()
    report = phone.locator(".triage-report", has_text="3单元楼道灯坏了")
    expect(report).to_contain_text("<script>alert(1)</script>")  # shown as text, never run
    expect(report).to_contain_text("138****5678")
    report.get_by_label("答复居民").fill("已收到，明天派电工上门")
    report.get_by_role("button", name="保存分拣").click()
    expect(phone.get_by_role("status")).to_contain_text("报事已登记入台账")
    request_id = int(re.search(r"/ledger/(\d+)", phone.url).group(1))
    expect(phone.locator(".facts")).to_contain_text(building["name"])
    expect(phone.locator(".facts")).to_contain_text("居民本人")
    expect(phone.locator(".photo-proof img").first).to_be_visible()  # the resident's photo, before

    # The leader refers it to the community health centre; its partner account accepts, replies and marks it done.
    # Each on a device of their own: the member's phone keeps its session (and its offline copy).
    db = live_server.db()
    health = database.scalar(db, "SELECT id FROM partners WHERE code = 'health_center'")
    factories.make_user(db, "partner", "health1", partner_id=health)
    db.close()
    leader_context, leader = _device(browser, playwright_instance, live_server)
    sign_in(leader, "leader1")
    leader.goto(f"/ledger/{request_id}")
    leader.get_by_label("服务平台或组织").select_option(label="社区卫生服务中心")
    leader.get_by_role("button", name="转介", exact=True).click()
    expect(leader.locator(".events")).to_contain_text("转介至社区卫生服务中心")
    leader_context.close()
    partner_context, partner = _device(browser, playwright_instance, live_server)
    sign_in(partner, "health1", factories.PASSWORD)
    partner.goto("/partner/")
    partner.locator(f'a[href="/partner/requests/{request_id}"]').click()
    assert "13812345678" not in partner.content() and "5678" not in partner.content()  # no resident's phone
    partner.get_by_role("button", name="接收").click()
    partner.get_by_label("平台答复").fill("已安排电工周三上门")
    partner.get_by_role("button", name="回复").click()
    partner.get_by_role("button", name="办结").click()
    expect(partner.locator(".request-state")).to_contain_text("平台已办结")
    assert partner.goto("/households/").status == 403  # a partner reaches nothing but its referrals
    partner_context.close()
    phone.goto(f"/ledger/{request_id}")
    expect(phone.locator(".events")).to_contain_text("社区卫生服务中心 的答复")
    expect(phone.locator(".events")).to_contain_text("社区卫生服务中心 已办结")

    # The member resolves it on the request page, with a reply to the resident.
    phone.get_by_label("办理结果").fill("更换灯泡")
    phone.get_by_label("答复居民").fill("灯已修好，谢谢您的反映")
    phone.get_by_role("button", name="解决", exact=True).click()
    expect(phone.locator(".request-state")).to_contain_text("已解决")

    # The resident, with the tracking code, is not satisfied: the request opens again.
    resident.goto(f"/t/{code}")
    expect(resident.locator(".replies")).to_contain_text("灯已修好，谢谢您的反映")
    expect(resident.locator(".replies")).to_contain_text("已收到，明天派电工上门")
    resident.get_by_label("意见（不满意时请填写）").fill("二楼的灯还是不亮")
    resident.get_by_role("button", name="不满意").click()
    expect(resident.get_by_role("status")).to_contain_text("感谢您的评价")
    expect(resident.locator(".report-status")).to_contain_text("待处理")
    expect(resident.get_by_role("button", name="满意")).to_have_count(0)  # once per resolution

    phone.goto("/ledger/?status=open")
    expect(phone.locator(f'.ledger-row[data-request-id="{request_id}"]')).to_contain_text("待处理")
    phone.goto(f"/ledger/{request_id}")
    expect(phone.locator(".events")).to_contain_text("二楼的灯还是不亮")
    resident_context.close()
