"""What the phone keeps for work without signal, and for how long: only the copy's pages, only for the session
that made them; the copy is one audit entry, and nothing the phone says about its requests skips the audit."""
import json

from playwright.sync_api import expect

from fieldapp.data import assignments
from fieldapp.data import db as database
from tests.browser.conftest import sign_in
from tests.browser.test_offline import back_online, record_visit_offline, signed_in_and_prepared

KEPT_PATHS = """caches.open('fieldapp-pages').then(cache => cache.keys())
  .then(requests => requests.map(request => { const url = new URL(request.url); return url.pathname + url.search; }))"""


def kept_paths(phone):
    """The addresses of the pages the phone keeps."""
    return phone.evaluate(KEPT_PATHS)


def eventually(phone, script, seconds=20):
    """Wait until script (an expression, maybe a promise) is true in phone; fail after seconds."""
    for _ in range(seconds * 10):
        if phone.evaluate(script):
            return
        phone.wait_for_timeout(100)
    raise AssertionError(f"still false after {seconds} s: {script}")


def wait_until_kept(phone, path):
    """Wait until the service worker has kept path (it keeps in the background)."""
    eventually(phone, f"({KEPT_PATHS}).then(paths => paths.includes({json.dumps(path)}))")


def forget(phone, path):
    """Delete one kept page."""
    phone.evaluate(f"caches.open('fieldapp-pages').then(cache => cache.delete({json.dumps(path)}))")


def first_households(phone, n):
    """The ids of the first n households of the member's list."""
    ids = phone.locator(".household-row").evaluate_all("rows => rows.map(row => row.dataset.householdId)")
    return [int(x) for x in ids[:n]]


def audit_since(server, first_id, action):
    """The audit entries of action from id first_id on: (user name, target id, detail)."""
    db = server.db()
    found = database.rows(db, "SELECT u.username, a.target_id, a.detail FROM audit_log a JOIN users u ON u.id = a.user_id "
                              "WHERE a.id >= ? AND a.action = ? ORDER BY a.id", [first_id, action])
    db.close()
    return [(row["username"], row["target_id"], json.loads(row["detail"])) for row in found]


def next_audit_id(server):
    """The id the next audit entry will get."""
    db = server.db()
    found = database.scalar(db, "SELECT coalesce(max(id), 0) + 1 FROM audit_log")
    db.close()
    return found


def test_an_export_or_a_page_outside_the_copy_opened_normally_is_not_kept(phone):
    signed_in_and_prepared(phone)
    first, second = first_households(phone, 2)
    # A page of the copy opened normally is kept afresh: the worker does keep what the server marks.
    forget(phone, f"/households/{first}")
    phone.goto(f"/households/{first}")
    wait_until_kept(phone, f"/households/{first}")

    phone.goto("/coverage/")
    expect(phone.get_by_role("link", name="导出 CSV")).to_be_visible()
    with phone.expect_download() as download:
        phone.get_by_role("link", name="导出 CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    forget(phone, f"/households/{second}")
    phone.goto(f"/households/{second}")
    wait_until_kept(phone, f"/households/{second}")  # the worker has handled the pages opened before this one

    kept = kept_paths(phone)
    assert [path for path in kept if path.startswith("/coverage")] == []
    assert f"/households/{first}" in kept and len(kept) > 100


def test_a_session_ended_on_another_device_takes_the_kept_pages_but_not_the_waiting_visits(
        phone, browser, live_server):
    signed_in_and_prepared(phone)
    household_id = first_households(phone, 1)[0]
    phone.context.set_offline(True)
    record_visit_offline(phone, household_id, "会话结束前的走访")  # its page and form come from the kept copy

    other_device = browser.new_context(locale="zh-CN", base_url=live_server.url)
    try:
        desk = other_device.new_page()
        sign_in(desk, "member1")
        desk.get_by_role("button", name="退出").click()  # signs the member out everywhere
        expect(desk.get_by_role("heading", name="登录")).to_be_visible()
    finally:
        other_device.close()

    back_online(phone)
    eventually(phone, "caches.has('fieldapp-pages').then(kept => !kept)")
    expect(phone.locator("#queue-count")).to_have_text("请重新登录以发送等待中的走访。")
    waiting = phone.evaluate("offlineQueue.all().then(items => items.map(item => item.payload.notes))")
    assert waiting == ["会话结束前的走访"]


def test_the_copy_is_one_audit_entry_and_a_script_cannot_skip_the_audit(phone, live_server):
    first_id = next_audit_id(live_server)
    signed_in_and_prepared(phone)  # two copies: after sign-in and on the button
    household_count = phone.locator(".household-row").count()
    copies = audit_since(live_server, first_id, "offline_copy")
    assert [(user, len(detail["households"])) for user, _, detail in copies] == [("member1", household_count)] * 2
    assert audit_since(live_server, first_id, "view_household") == []  # hundreds of pages, none logged alone

    household_id = first_households(phone, 1)[0]
    for headers in ({}, {"X-Offline-Copy": "made up"}):  # a page's script: Sec-Fetch-Dest is "empty"
        status = phone.evaluate(f"fetch('/households/{household_id}', {{headers: {json.dumps(headers)}}})"
                                ".then(answer => answer.status)")
        assert status == 200
    phone.goto(f"/households/{household_id}")
    views = audit_since(live_server, first_id, "view_household")
    assert [(user, target) for user, target, _ in views] == [("member1", household_id)] * 3


# Last in this file: it takes a cell from member1 in this module's database.
def test_a_new_copy_drops_the_households_of_a_cell_the_member_left(phone, live_server):
    signed_in_and_prepared(phone)
    db = live_server.db()
    member = database.scalar(db, "SELECT id FROM users WHERE username = 'member1'")
    cells = [row["cell_id"] for row in database.rows(
        db, "SELECT cell_id FROM assignments WHERE user_id = ? AND valid_to IS NULL ORDER BY cell_id", [member])]
    assert len(cells) >= 2
    left = [row["id"] for row in database.rows(db, "SELECT id FROM households WHERE cell_id = ?", [cells[-1]])]
    stays = database.scalar(db, "SELECT min(id) FROM households WHERE cell_id = ?", [cells[0]])
    kept = kept_paths(phone)
    assert f"/households/{left[0]}" in kept and f"/households/{left[0]}/visits/new" in kept

    assignments.end(db, assignments.current(db, cells[-1], member)["id"])  # the leader moves them off the cell
    db.close()
    status = phone.locator("#offline-status")
    before = status.get_attribute("data-prepared-at")
    phone.get_by_role("button", name="离线准备").click()
    expect(status).not_to_have_attribute("data-prepared-at", before, timeout=90_000)

    kept = kept_paths(phone)
    gone = {f"/households/{household_id}" for household_id in left}
    assert [path for path in kept if path.removesuffix("/visits/new") in gone] == []
    assert f"/households/{stays}" in kept and f"/households/{stays}/visits/new" in kept
