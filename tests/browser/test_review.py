"""A grid leader on a phone finds a conflicting register change in the review and keeps the server's value."""
from playwright.sync_api import expect

from fieldapp import rules
from fieldapp.data import db as database
from fieldapp.data import register
from tests.browser.conftest import sign_in


def test_the_leader_resolves_a_conflicting_change(phone, live_server):
    db = live_server.db()
    resident = database.one(db, """
        SELECT r.id, r.household_id, r.name, r.phone, u.id AS member FROM residents r
        JOIN households h ON h.id = r.household_id JOIN cells c ON c.id = h.cell_id
        JOIN users l ON l.grid_id = c.grid_id AND l.username = 'leader1'
        JOIN assignments a ON a.cell_id = c.id AND a.valid_to IS NULL JOIN users u ON u.id = a.user_id
        WHERE r.moved_out_at IS NULL AND r.phone IS NOT NULL ORDER BY r.id LIMIT 1""")
    now = rules.iso(rules.utcnow())
    result, change_id = register.record(db, {
        "uuid": "browser-review-conflict", "household_id": resident["household_id"], "resident_id": resident["id"],
        "visit_id": None, "user_id": resident["member"], "made_at": now, "received_at": now, "day": now[:10],
        "kind": "resident_corrected", "field": "phone", "before": "13000000000", "after": "13111112222",
        "reason": "居民换了号码", "payload_sha256": None})
    db.close()
    assert result == "conflict"

    sign_in(phone, "leader1")
    phone.get_by_role("link", name="审核").first.click()
    expect(phone.get_by_role("heading", name="审核")).to_be_visible()
    item = phone.locator(f'.review-item[data-subject="change"][data-id="{change_id}"]')
    expect(item).to_contain_text("修改冲突")
    expect(item).to_contain_text(f"服务器上：{rules.mask_phone(resident['phone'])}")
    item.get_by_role("button", name="保留服务器上的值").click()

    expect(phone.get_by_role("status")).to_contain_text("已保留服务器上的值。")
    expect(phone.locator(f'.review-item[data-subject="change"][data-id="{change_id}"]')).to_have_count(0)
    assert phone.evaluate("document.documentElement.scrollWidth") <= phone.viewport_size["width"]
    db = live_server.db()
    assert database.scalar(db, "SELECT phone FROM residents WHERE id = ?", [resident["id"]]) == resident["phone"]
    db.close()
