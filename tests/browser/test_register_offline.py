"""No signal at the door: a visit that adds a resident and ends another's tag waits on the phone, and reaches the
server once, with exactly its two changes; the household's visit cycle follows."""
import re

from playwright.sync_api import expect

from fieldapp.clock import clock
from fieldapp.data import db as database
from fieldapp.data import households
from tests.browser.conftest import sign_in, wait_for_service_worker


def living_alone(server):
    """A household of member1 whose one cycle-shortening tag is its one resident's 独居老人 (elderly alone)."""
    db = server.db()
    found = database.one(db, """
        SELECT h.id AS household_id, min(r.id) AS resident_id FROM households h
        JOIN assignments a ON a.cell_id = h.cell_id AND a.valid_to IS NULL
        JOIN users u ON u.id = a.user_id AND u.username = 'member1'
        JOIN residents r ON r.household_id = h.id AND r.moved_out_at IS NULL
        WHERE h.retired_at IS NULL AND h.occupancy = 'occupied'
          AND NOT EXISTS (SELECT 1 FROM household_tags ht WHERE ht.household_id = h.id)
        GROUP BY h.id
        HAVING count(DISTINCT r.id) = 1 AND (
          SELECT count(*) FROM resident_tags rt JOIN tags t ON t.id = rt.tag_id JOIN residents x ON x.id = rt.resident_id
          WHERE x.household_id = h.id AND rt.ended_on IS NULL AND t.cycle_days IS NOT NULL) = 1
          AND EXISTS (SELECT 1 FROM resident_tags rt JOIN tags t ON t.id = rt.tag_id JOIN residents x
                      ON x.id = rt.resident_id WHERE x.household_id = h.id AND rt.ended_on IS NULL
                      AND t.code = 'elderly_alone')
        ORDER BY h.id LIMIT 1""")
    db.close()
    assert found, "the demo has a member1 household of one elderly resident living alone"
    return found["household_id"], found["resident_id"]


def stored(server, household_id):
    """The household's visits and register changes on the server, and its cycle in days."""
    db = server.db()
    visits = database.rows(db, "SELECT id FROM visits WHERE household_id = ? ORDER BY id", [household_id])
    changes = database.rows(db, "SELECT kind, resident_id, visit_id, before, after FROM register_changes "
                                "WHERE household_id = ? ORDER BY id", [household_id])
    with server.app.app_context():
        today = clock(db)
    cycle = households.with_status(db, today, household_id=household_id)[0]["cycle_days"]
    db.close()
    return visits, changes, cycle


def back_online(phone):
    """As in test_offline: online, offline, online, so that a page opened without signal hears "online"."""
    for offline in (False, True, False):
        phone.context.set_offline(offline)


def test_a_visit_recorded_offline_brings_its_two_changes_once(phone, live_server):
    household_id, resident_id = living_alone(live_server)
    visits_before, changes_before, cycle_before = stored(live_server, household_id)
    assert cycle_before == 7 and changes_before == []
    sign_in(phone, "member1")
    wait_for_service_worker(phone)
    expect(phone.locator("#offline-status")).to_have_attribute("data-prepared-at", re.compile("."), timeout=90_000)

    live_server.stop()
    phone.context.set_offline(True)
    phone.goto(f"/households/{household_id}")
    phone.get_by_role("link", name="记录走访").click()
    phone.get_by_label("见到居民").check()
    new_resident = phone.locator(".resident-editor.new-resident")
    new_resident.locator("summary").click()
    new_resident.get_by_label("姓名").fill("李建华")
    new_resident.get_by_label("与户主关系").select_option(label="子女")
    new_resident.get_by_label("原因").fill("儿子搬回同住")
    elder = phone.locator(f'.resident-editor[data-resident-id="{resident_id}"]')
    elder.locator("summary").click()
    elder.locator(".tags-end").get_by_label("独居老人").check()
    elder.get_by_label("原因").fill("不再独居")
    phone.get_by_role("button", name="保存走访").click()
    expect(phone.locator("#pending-visits")).to_contain_text("等待发送")
    assert stored(live_server, household_id)[:2] == (visits_before, [])

    live_server.start()
    back_online(phone)
    expect(phone.locator("#queue-bar")).to_be_hidden(timeout=20_000)
    visits, changes, cycle = stored(live_server, household_id)
    assert len(visits) == len(visits_before) + 1
    visit_id = visits[-1]["id"]
    by_kind = {c["kind"]: c for c in changes}
    assert len(changes) == 2 and set(by_kind) == {"resident_added", "tag_ended"}
    assert {c["visit_id"] for c in changes} == {visit_id}
    assert by_kind["tag_ended"]["resident_id"] == resident_id and by_kind["tag_ended"]["before"] == "elderly_alone"
    assert "李建华" in by_kind["resident_added"]["after"]
    assert cycle == 30
    assert phone.evaluate("offlineQueue.all().then(items => items.length)") == 0
    phone.goto(f"/households/{household_id}")
    expect(phone.locator("#register-history")).to_contain_text("李建华")
    expect(phone.locator("#register-history")).to_contain_text("不再独居")

    # Learnt later without a visit, still without signal: the change alone waits, and reaches the server once.
    live_server.stop()
    phone.context.set_offline(True)
    phone.goto(f"/households/{household_id}/visits/new")
    elder = phone.locator(f'.resident-editor[data-resident-id="{resident_id}"]')
    elder.locator("summary").click()
    elder.locator(".tags-add").get_by_label("残疾人").check()
    elder.get_by_label("原因").fill("办了残疾证")
    phone.get_by_role("button", name="只保存名册变更（不登记走访）").click()
    expect(phone.locator("#pending-visits")).to_contain_text("名册变更")
    live_server.start()
    back_online(phone)
    expect(phone.locator("#queue-bar")).to_be_hidden(timeout=20_000)
    visits_after, changes_after, cycle_after = stored(live_server, household_id)
    assert visits_after == visits and cycle_after == 14  # 残疾人: a fortnight
    assert [(c["kind"], c["after"], c["visit_id"]) for c in changes_after[2:]] == [("tag_added", "disabled", None)]
