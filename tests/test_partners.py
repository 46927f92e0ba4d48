"""Partners: the referral's rules, partner accounts, the ledger's referral reaching the platform, each partner step
as an event on the request, a partner's scope (its referrals and nothing else), the slip, and late referrals by
platform on the overdue page."""
from datetime import date

import pytest

from fieldapp import referrals
from fieldapp.data import db as database
from tests import factories


def test_steps_and_their_states():
    assert referrals.allowed_steps("referred") == ["accept", "ask", "hand_back"]
    assert referrals.allowed_steps("accepted") == ["reply", "ask", "hand_back", "done"]
    assert referrals.allowed_steps("done") == [] and referrals.allowed_steps("handed_back") == []
    assert referrals.step("info_requested", "reply") == "accepted"
    with pytest.raises(referrals.IllegalStep):
        referrals.step("referred", "done")  # done before accepting it


def test_accept_within_two_working_days_and_lateness():
    friday = date(2026, 12, 4)
    assert referrals.accept_by(friday) == date(2026, 12, 8)  # Monday and Tuesday
    assert referrals.answer_by(date(2026, 12, 5), friday) == date(2026, 12, 8)  # never before the acceptance
    late = {"state": "referred", "accept_by": date(2026, 12, 8), "answer_by": date(2026, 12, 20), "answered": False}
    assert referrals.lateness(late, date(2026, 12, 8)) is None
    assert referrals.lateness(late, date(2026, 12, 9)) == "accept"
    assert referrals.lateness({**late, "state": "accepted"}, date(2026, 12, 21)) == "answer"
    assert referrals.lateness({**late, "state": "accepted", "answered": True}, date(2026, 12, 21)) is None
    assert referrals.lateness({**late, "state": "done"}, date(2027, 1, 1)) is None


@pytest.fixture
def world(db):
    """Grid A (cell A1 of m1, with r1 and r2) led by `lead`; grid B (cell B1, r3); partner accounts `health`
    (社区卫生服务中心) and `union` (工会); admin `boss`."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1, b1 = factories.make_cell(db, grid_a), factories.make_cell(db, grid_b, lon=120.2)
    m1 = factories.make_user(db, "member", "m1", display_name="张三")
    lead = factories.make_user(db, "leader", "lead", grid_id=grid_a, display_name="赵网格长")
    factories.make_user(db, "admin", "boss")
    factories.assign(db, a1, m1)
    platform = {code: database.scalar(db, "SELECT id FROM partners WHERE code = ?", [code])
                for code in ("health_center", "trade_union")}
    health = factories.make_user(db, "partner", "health", partner_id=platform["health_center"], display_name="卫生中心")
    factories.make_user(db, "partner", "union", partner_id=platform["trade_union"])
    h1 = factories.make_household(db, a1, address="3号楼2单元301室")
    factories.make_resident(db, h1, name="王秀英", phone="13812341234")
    h2 = factories.make_household(db, b1, address="乙区5号")
    return {"lead": lead, "m1": m1, "health": health, "platform": platform, "h1": h1,
            "r1": factories.make_request(db, h1, m1, description="需要家庭医生上门", due_date="2099-01-01"),
            "r2": factories.make_request(db, h1, m1, description="就业培训", category="employment"),
            "r3": factories.make_request(db, h2, m1, description="乙区诉求")}


def _refer(client, auth, request_id, code, version=1):
    return client.post(f"/ledger/{request_id}/refer", data={"csrf_token": auth.csrf_token(), "referral": code,
                                                            "version": str(version)})


def _step(client, auth, request_id, path, version, **form):
    return client.post(f"/partner/requests/{request_id}/{path}",
                       data={"csrf_token": auth.csrf_token("/partner/"), "version": str(version), **form})


def test_admin_creates_a_partner_account(auth, client, db, world):
    auth.login("boss")
    token = auth.csrf_token("/accounts/new")
    refused = client.post("/accounts/new?lang=en", data={"csrf_token": token, "username": "culture",
                                                        "role": "partner", "partner": ""})
    assert refused.status_code == 422
    assert "A partner account needs its service platform or organisation." in refused.get_data(as_text=True)
    assert database.scalar(db, "SELECT count(*) FROM users WHERE username = 'culture'") == 0
    culture = database.scalar(db, "SELECT id FROM partners WHERE code = 'culture_center'")
    made = client.post("/accounts/new", data={"csrf_token": token, "username": "culture", "role": "partner",
                                              "partner": str(culture), "display_name": "文化中心"})
    assert made.status_code == 200
    assert database.rows(db, "SELECT role, partner_id, grid_id FROM users WHERE username = 'culture'") == [
        {"role": "partner", "partner_id": culture, "grid_id": None}]
    assert "社区文化活动中心" in client.get("/accounts/").get_data(as_text=True)


def test_a_referral_reaches_its_platform_only(auth, client, db, world):
    auth.login("lead")
    assert _refer(client, auth, world["r1"], "health_center").status_code == 302
    assert _refer(client, auth, world["r2"], "trade_union").status_code == 302
    referral = database.one(db, "SELECT partner_id, state, accept_by, answer_by FROM referrals WHERE request_id = ?",
                            [world["r1"]])
    assert referral["partner_id"] == world["platform"]["health_center"] and referral["state"] == "referred"
    assert referral["answer_by"] == "2099-01-01"  # the request's due date
    auth.logout()
    auth.login("health")
    assert client.get("/").headers["Location"].endswith("/partner/")
    listing = client.get("/partner/").get_data(as_text=True)
    assert "需要家庭医生上门" in listing and "就业培训" not in listing and "乙区诉求" not in listing
    page = client.get(f"/partner/requests/{world['r1']}").get_data(as_text=True)
    assert "3号楼2单元301室" in page and "需要家庭医生上门" in page
    assert "王秀英" not in page and "1234" not in page  # no resident's name or phone
    assert ">接收</button>" in page and "已转介，待接收" in page
    assert client.get(f"/partner/requests/{world['r2']}").status_code == 404  # another platform's
    assert client.get(f"/partner/requests/{world['r3']}").status_code == 404  # referred to nobody
    for url in ("/households/", f"/households/{world['h1']}", "/map/", "/ledger/", f"/ledger/{world['r1']}",
                "/coverage/", "/overdue/", "/hotline/", "/api/offline-manifest", "/accounts/"):
        assert client.get(url).status_code == 403, url


def test_each_partner_step_is_an_event_on_the_request(auth, client, db, world):
    auth.login("lead")
    _refer(client, auth, world["r1"], "health_center")
    auth.logout()
    auth.login("health")
    client.get("/partner/?lang=en")
    too_early = _step(client, auth, world["r1"], "done", 2)  # nothing is done or answered before accepting
    assert too_early.status_code == 409
    assert "This step is not possible for a referral that is Referred, not yet accepted." in too_early.get_data(
        as_text=True)
    page = client.get(f"/partner/requests/{world['r1']}").get_data(as_text=True)
    assert ">Accept</button>" in page and ">Mark done</button>" not in page and ">Reply</button>" not in page
    assert _step(client, auth, world["r1"], "accept", 2).status_code == 303
    assert database.scalar(db, "SELECT status FROM requests WHERE id = ?", [world["r1"]]) == "in_progress"
    empty = _step(client, auth, world["r1"], "reply", 3, reply=" ")
    assert empty.status_code == 422 and "Write the platform&#39;s answer." in empty.get_data(as_text=True)
    stale = _step(client, auth, world["r1"], "reply", 2, reply="已安排")  # a resent form of the old page
    assert stale.status_code == 409
    assert _step(client, auth, world["r1"], "ask", 3, question="请提供居民的方便时间").status_code == 303
    assert _step(client, auth, world["r1"], "reply", 4, reply="家庭医生周三上门").status_code == 303
    page = client.get(f"/partner/requests/{world['r1']}").get_data(as_text=True)
    assert ">Reply</button>" in page and ">Mark done</button>" in page
    assert _step(client, auth, world["r1"], "done", 5).status_code == 303
    events = database.rows(db, "SELECT kind, note, user_id FROM request_events WHERE request_id = ? "
                               "AND kind LIKE 'partner_%' ORDER BY id", [world["r1"]])
    assert [(e["kind"], e["note"]) for e in events] == [
        ("partner_accept", None), ("partner_ask", "请提供居民的方便时间"), ("partner_reply", "家庭医生周三上门"),
        ("partner_done", None)]
    assert {e["user_id"] for e in events} == {world["health"]}
    referral = database.one(db, "SELECT state, accepted_at, answered_at, ended_at FROM referrals "
                                "WHERE request_id = ?", [world["r1"]])
    assert referral["state"] == "done" and all(referral[k] for k in ("accepted_at", "answered_at", "ended_at"))
    # The request stays the community's to resolve with the resident.
    assert database.scalar(db, "SELECT status FROM requests WHERE id = ?", [world["r1"]]) == "in_progress"
    auth.logout()
    for who in ("m1", "lead"):
        auth.login(who)
        page = client.get(f"/ledger/{world['r1']}?lang=en").get_data(as_text=True)
        for line in ("Accepted by Community Health Service Center", "Community Health Service Center asks for "
                     "information", "Reply from Community Health Service Center", "家庭医生周三上门",
                     "Done by Community Health Service Center", "Done by the platform"):
            assert line in page, (who, line)
        auth.logout()


def test_hand_back_needs_a_reason_and_ends_the_referral(auth, client, db, world):
    auth.login("lead")
    _refer(client, auth, world["r1"], "health_center")
    auth.logout()
    auth.login("health")
    assert _step(client, auth, world["r1"], "hand-back", 2, reason="").status_code == 422
    assert database.scalar(db, "SELECT state FROM referrals WHERE request_id = ?", [world["r1"]]) == "referred"
    assert _step(client, auth, world["r1"], "hand-back", 2, reason="不属于本中心职责").status_code == 303
    assert database.one(db, "SELECT state, reason FROM referrals WHERE request_id = ?", [world["r1"]]) == {
        "state": "handed_back", "reason": "不属于本中心职责"}
    assert database.scalar(db, "SELECT referral FROM requests WHERE id = ?", [world["r1"]]) is None
    assert client.get(f"/partner/requests/{world['r1']}").status_code == 404  # no longer theirs
    auth.logout()
    auth.login("lead")
    page = client.get(f"/ledger/{world['r1']}?lang=en").get_data(as_text=True)
    assert "Handed back by Community Health Service Center" in page and "不属于本中心职责" in page


def test_referring_elsewhere_withdraws_the_open_referral(auth, client, db, world):
    auth.login("lead")
    _refer(client, auth, world["r1"], "health_center")
    _refer(client, auth, world["r1"], "health_center", version=2)  # the same platform again: one referral
    _refer(client, auth, world["r1"], "trade_union", version=3)
    assert database.rows(db, "SELECT p.code, r.state FROM referrals r JOIN partners p ON p.id = r.partner_id "
                             "WHERE r.request_id = ? ORDER BY r.id", [world["r1"]]) == [
        {"code": "health_center", "state": "withdrawn"}, {"code": "trade_union", "state": "referred"}]
    slip = client.get(f"/partner/requests/{world['r1']}/slip").get_data(as_text=True)
    assert "工会" in slip and "需要家庭医生上门" in slip and "3号楼2单元301室" in slip and "王秀英" not in slip
    auth.logout()
    auth.login("health")
    assert client.get(f"/partner/requests/{world['r1']}").status_code == 404
    assert client.get(f"/partner/requests/{world['r1']}/slip").status_code == 404


def test_late_referrals_by_platform_on_the_overdue_page(auth, client, db, world):
    from fieldapp.data import partners

    with database.write(db):
        for request_id, code, state in ((world["r1"], "health_center", "referred"),
                                        (world["r2"], "health_center", "accepted"),
                                        (world["r3"], "trade_union", "referred")):
            database.insert(db, "referrals", {
                "request_id": request_id, "partner_id": world["platform"][code], "referred_by": world["lead"],
                "referred_at": "2026-01-05T01:00:00Z", "accept_by": "2026-01-07", "answer_by": "2026-01-20",
                "state": state})
    late = partners.late(db, None, "2026-01-21")
    assert sorted((r["request_id"], r["why"], r["days_late"]) for r in late) == sorted([
        (world["r1"], "accept", 14), (world["r2"], "answer", 1), (world["r3"], "accept", 14)])
    assert partners.late_by_partner(late) == [
        {"name": "社区卫生服务中心", "not_accepted": 1, "not_answered": 1, "most_late": 14},
        {"name": "工会", "not_accepted": 1, "not_answered": 0, "most_late": 14}]
    auth.login("lead")
    page = client.get("/overdue/?lang=en").get_data(as_text=True)
    section = page[page.index('id="by-platform"'):page.index('id="by-cell"')]
    assert "社区卫生服务中心" in section and "not accepted in time" in section
    assert "工会" not in section  # grid B's request is not the leader's
    export = client.get("/overdue/export?format=csv&table=platforms").get_data(as_text=True)
    assert "未按时接收" in export and "社区卫生服务中心" in export
