"""Residents report by QR code: poster tokens, the public form with each bad input, the throttle and the honeypot,
the tracking page and the rating, the triage list and its actions, and who sees what."""
import io
import re
from datetime import date, timedelta

import pytest

from fieldapp.data import db as database
from fieldapp.data import ledger, reports
from tests import factories


@pytest.fixture
def world(db):
    """Grid A: cell A1 (member m1) with 3号楼 (two households) and its poster; cell A2 (member m2); leader `lead`;
    grid B's leader `lead2`; admin `boss`."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1, a2 = factories.make_cell(db, grid_a, name="甲一区"), factories.make_cell(db, grid_a, name="甲二区")
    m1, m2 = factories.make_user(db, "member", "m1"), factories.make_user(db, "member", "m2")
    lead = factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "leader", "lead2", grid_id=grid_b)
    factories.make_user(db, "admin", "boss")
    factories.assign(db, a1, m1)
    factories.assign(db, a2, m2)
    building = factories.make_building(db, a1, name="3号楼")
    homes = [factories.make_household(db, a1, building, address=f"3号楼 1单元 10{n}室") for n in (1, 2)]
    token = factories.make_report_token(db, lead, building_id=building)
    return dict(a1=a1, a2=a2, m1=m1, m2=m2, lead=lead, building=building, homes=homes, token=token)


def _csrf(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _form(client, token, **fields):
    """Open the report page in this browser and send it with fields (a fresh browser: only its session cookie)."""
    page = client.get(f"/r/{token}?lang=en").get_data(as_text=True)
    uuid = re.search(r'name="uuid" value="([^"]+)"', page).group(1)
    data = {"csrf_token": _csrf(page), "uuid": uuid, "category": "sanitation", "description": "楼道灯坏了", **fields}
    return client.post(f"/r/{token}?lang=en", data=data, content_type="multipart/form-data")


def _png():
    """A small photo as a phone's gallery gives it."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(out, "PNG")
    out.seek(0)
    return out


def _requests(db):
    return database.scalar(db, "SELECT count(*) FROM requests")


def test_tokens_replace_and_revoke(app, db, world):
    fresh = app.test_client()
    assert fresh.get(f"/r/{world['token']}").status_code == 200
    new = reports.replace_token(db, "building", world["building"], user_id=world["lead"], at="2026-01-01T00:00:00Z")
    assert len(new) >= 22 and new != world["token"]
    old_page = fresh.get(f"/r/{world['token']}?lang=en")
    assert old_page.status_code == 404 and "This link does not work" in old_page.get_data(as_text=True)
    assert fresh.get(f"/r/{new}").status_code == 200
    assert reports.revoke_token(db, "building", world["building"], user_id=world["lead"], at="2026-01-01T00:00:00Z")
    assert fresh.get(f"/r/{new}").status_code == 404
    assert fresh.get("/r/unknown-token").status_code == 404
    assert database.scalar(db, "SELECT count(*) FROM report_tokens WHERE revoked_at IS NULL") == 0


def test_posters_page_and_print(auth, client, db, world):
    auth.login("lead")
    body = client.get("/posters/?lang=en").get_data(as_text=True)
    assert "QR posters" in body and "3号楼" in body and "甲二区" in body
    assert f'href="/r/{world["token"]}">Open the report page</a>' in body
    poster = client.get(f"/posters/building/{world['building']}?lang=zh").get_data(as_text=True)
    assert "<svg" in poster and "@media print" in poster and "3号楼" in poster and world["token"] in poster
    assert "扫码" in poster and "隐私" in poster  # what to report, what happens next, the privacy notice
    assert "size: A5" in client.get(f"/posters/building/{world['building']}?size=a5").get_data(as_text=True)
    # A cell's poster is made by a POST; the missing buildings' posters at once.
    made = client.post(f"/posters/cell/{world['a2']}/replace", data={"csrf_token": auth.csrf_token()})
    assert made.status_code == 302 and reports.place(db, "cell", world["a2"])["token"]
    factories.make_building(db, world["a2"], name="5号楼")
    client.post("/posters/make-missing", data={"csrf_token": auth.csrf_token()})
    assert database.scalar(db, "SELECT count(*) FROM report_tokens WHERE revoked_at IS NULL") == 3
    auth.logout()
    auth.login("lead2")
    assert client.get(f"/posters/building/{world['building']}").status_code == 404


def test_a_report_from_a_fresh_browser(app, db, world):
    fresh = app.test_client()
    page = fresh.get(f"/r/{world['token']}?lang=en").get_data(as_text=True)
    assert "3号楼" in page and "1单元" not in page  # the building only, no household
    for label in ("Category", "Description", "Photo", "Your phone (optional)", "Send report"):
        assert label in page
    answer = _form(fresh, world["token"], name="王秀英", phone="13812345678", consent="yes", photo=(_png(), "灯.png"))
    assert answer.status_code == 302
    sent = fresh.get(answer.headers["Location"]).get_data(as_text=True)
    code = re.search(r'class="tracking-code">([A-Z0-9]{10})<', sent).group(1)
    assert "Tracking code" in sent and f"/t/{code}" in sent and "王秀英" not in sent
    row = database.one(db, "SELECT q.channel, q.building_id, q.household_id, q.created_by, q.status, r.phone, "
                           "r.consent_at FROM requests q JOIN resident_reports r ON r.request_id = q.id")
    assert row["channel"] == "resident" and row["building_id"] == world["building"] and row["household_id"] is None
    assert row["created_by"] is None and row["status"] == "open" and row["phone"] == "13812345678" and row["consent_at"]
    assert database.scalar(db, "SELECT user_id FROM request_events") is None
    photo = database.one(db, "SELECT kind, state, user_id, request_id, width FROM photos")
    assert photo == {"kind": "report", "state": "attached", "user_id": None,
                     "request_id": database.scalar(db, "SELECT id FROM requests"), "width": 40}


def test_a_resent_report_adds_nothing(app, db, world):
    fresh = app.test_client()
    page = fresh.get(f"/r/{world['token']}").get_data(as_text=True)
    data = {"csrf_token": _csrf(page), "uuid": re.search(r'name="uuid" value="([^"]+)"', page).group(1),
            "category": "sanitation", "description": "电梯坏了"}
    first, again = (fresh.post(f"/r/{world['token']}", data=data) for _ in range(2))
    assert first.headers["Location"] == again.headers["Location"] and _requests(db) == 1


@pytest.mark.parametrize("fields, status, message", [
    ({"description": "  "}, 422, "Describe what should be looked at."),
    ({"description": "长" * 1001}, 422, "At most 1000 characters."),
    ({"category": "nonsense"}, 422, "Choose what your report is about."),
    ({"phone": "13812345678"}, 422, "agree to how they are kept"),
    ({"phone": "call me"}, 422, "Enter a phone number of digits only"),
    ({"photo": (io.BytesIO(b"\xff" * (16 * 1024 * 1024)), "big.jpg")}, 422, "The photo is too large: at most 15 MB."),
    ({"photo": (io.BytesIO(b"<html>not a photo</html>"), "photo.jpg")}, 422, "This file is not a photo"),
    ({"photo": (io.BytesIO(b"\xff" * (30 * 1024 * 1024)), "huge.jpg")}, 413, "The photo is too large"),
    ({"website": "http://spam.example"}, 400, "The report was not sent"),
])
def test_bad_reports_write_nothing(app, db, world, fields, status, message):
    answer = _form(app.test_client(), world["token"], **fields)
    assert answer.status_code == status and message in answer.get_data(as_text=True)
    assert _requests(db) == 0


def test_a_burst_waits(app, db, world):
    app.config["REPORT_LIMITS"] = {"per_address": 2, "per_place": 3}
    fresh = app.test_client()
    assert [_form(fresh, world["token"]).status_code for _ in range(3)] == [302, 302, 429]
    assert "Please try again later" in _form(fresh, world["token"]).get_data(as_text=True)
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert _form(other, world["token"]).status_code == 302  # another address: the building's third
    assert _form(other, world["token"]).status_code == 429  # the building's limit
    assert _requests(db) == 3
    assert "10.0.0.9" not in str(database.rows(db, "SELECT * FROM report_throttle"))


def test_tracking_rating_and_reopening(app, db, world):
    request_id, code = factories.make_resident_report(db, world["token"], description="<script>alert(1)</script>",
                                                      name="王秀英", phone="13812345678")
    fresh = app.test_client()
    assert fresh.get(f"/t/{code.lower()}").headers["Location"] == f"/t/{code}"  # typed in small letters
    page = fresh.get(f"/t/{code}?lang=en").get_data(as_text=True)
    assert "Open" in page and "Environment and sanitation" in page
    for secret in ("王秀英", "138", "<script>", "alert(1)", "3号楼"):
        assert secret not in page  # status, category and public replies only
    assert "Not satisfied" not in page and fresh.get("/t/ZZZZZZZZZZ").status_code == 404
    ledger.apply(db, request_id, "resolve", user_id=world["m1"], at="2026-01-02T00:00:00Z", note="已换灯泡",
                 data={"reply": "灯已修好，谢谢您的反映"})
    assert reports.waiting_count(db, None) == 0  # resolved in the ledger: no longer waiting for triage
    page = fresh.get(f"/t/{code}?lang=en").get_data(as_text=True)
    assert "灯已修好，谢谢您的反映" in page and "已换灯泡" not in page  # the reply, not the staff's resolution
    assert "Satisfied" in page and "Not satisfied" in page
    rate = lambda **data: fresh.post(f"/t/{code}/rate?lang=en", data={"csrf_token": _csrf(page), **data})  # noqa: E731
    assert "Write what is still wrong" in rate(answer="not_satisfied").get_data(as_text=True)
    assert rate(answer="not_satisfied", comment="还是不亮").status_code == 302
    assert database.scalar(db, "SELECT status FROM requests WHERE id = ?", [request_id]) == "open"
    event = database.one(db, "SELECT kind, user_id, note, data FROM request_events ORDER BY id DESC LIMIT 1")
    assert (event["kind"], event["user_id"], event["note"]) == ("return_visit", None, "还是不亮")
    assert rate(answer="satisfied").status_code == 422  # once per resolution
    ledger.apply(db, request_id, "resolve", user_id=world["m1"], at="2026-01-03T00:00:00Z", note="换了线路")
    assert rate(answer="satisfied").status_code == 302
    assert database.scalar(db, "SELECT status FROM requests WHERE id = ?", [request_id]) == "closed"
    assert database.scalar(db, "SELECT count(*) FROM report_ratings") == 2


def test_triage_list_scope_and_escaping(auth, client, db, world):
    factories.make_resident_report(db, world["token"], description="<script>alert(1)</script>", phone="13812345678",
                                   name="王秀英")
    seen = {}
    for username in ("m1", "m2", "lead", "lead2", "boss"):
        auth.login(username)
        body = client.get("/triage/?lang=en").get_data(as_text=True)
        seen[username] = "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "<script>alert(1)" not in body
        if seen[username]:
            assert "138****5678" in body and "13812345678" not in body and 'data-count="waiting">1<' in body
        auth.logout()
    assert seen == {"m1": True, "m2": False, "lead": True, "lead2": False, "boss": True}
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE target_type = 'resident_reports'") == 3


def test_the_call_back_phone_shows_on_a_deliberate_audited_tap(auth, client, db, world):
    request_id, _code = factories.make_resident_report(db, world["token"], phone="13812345678", name="王秀英")
    factories.make_resident_report(db, world["token"], description="无联系方式")
    auth.login("m2")
    assert client.post(f"/triage/{request_id}/contact", data={"csrf_token": auth.csrf_token()}).status_code == 404
    auth.logout()
    auth.login("m1")
    reports.triage(db, request_id, "accepted", user_id=world["m1"], at="2026-01-01T00:00:00Z", version=1,
                   category="sanitation", due_date="2099-01-01", responsible_user_id=world["m1"])
    page = client.get(f"/ledger/{request_id}?lang=en").get_data(as_text=True)
    assert "Call back:" in page and "王秀英" in page and "138****5678" in page and "13812345678" not in page
    shown = client.post(f"/triage/{request_id}/contact", data={"csrf_token": auth.csrf_token()})
    assert 'href="tel:13812345678"' in shown.get_data(as_text=True)
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'reveal_phone' "
                               "AND target_type = 'resident_report' AND target_id = ?", [request_id]) == 1


def test_triage_onto_a_household_with_a_due_date(auth, client, db, world):
    request_id, code = factories.make_resident_report(db, world["token"])
    due = (date.today() + timedelta(days=30)).isoformat()
    auth.login("m1")
    assert 'data-count="triage">1<' in client.get("/ledger/").get_data(as_text=True)
    post = lambda **data: client.post(f"/triage/{request_id}?lang=en", data={  # noqa: E731
        "csrf_token": auth.csrf_token(), "version": "1", **data})
    refused = post(outcome="accepted", category="housing", place=str(world["homes"][0] + 100))
    assert refused.status_code == 422 and "Choose a household of this building" in refused.get_data(as_text=True)
    assert post(outcome="accepted", category="housing", place=str(world["homes"][1]), due_date=due,
                reply="已转交物业").status_code == 302
    row = database.one(db, "SELECT household_id, building_id, category, due_date, responsible_user_id, version "
                           "FROM requests WHERE id = ?", [request_id])
    assert row == {"household_id": world["homes"][1], "building_id": None, "category": "housing",
                   "due_date": due, "responsible_user_id": world["m1"], "version": 2}
    assert "已转交物业" in client.get(f"/t/{code}").get_data(as_text=True)
    assert post(outcome="not_ours", reply="x").status_code == 404  # triaged already: no longer waiting
    assert 'data-count="waiting">0<' in client.get("/triage/").get_data(as_text=True)


def test_triage_closes_duplicates_and_other_matters(auth, client, db, world):
    first, _code = factories.make_resident_report(db, world["token"], description="3楼灯不亮")
    second, code = factories.make_resident_report(db, world["token"], description="楼道灯又坏了")
    third, _code3 = factories.make_resident_report(db, world["token"], description="隔壁小区停车", category="other")
    auth.login("lead")
    body = client.get("/triage/?lang=en").get_data(as_text=True)
    assert "Maybe a duplicate" in body and f"№{first}" in body
    post = lambda request_id, **data: client.post(f"/triage/{request_id}?lang=en", data={  # noqa: E731
        "csrf_token": auth.csrf_token(), "version": "1", **data})
    assert "needs a reply" in post(second, outcome="duplicate", duplicate_of=str(first)).get_data(as_text=True)
    assert post(second, outcome="duplicate", duplicate_of=str(second), reply="重复").status_code == 422
    answer = post(second, outcome="duplicate", duplicate_of=str(first), reply="已有人反映，正在处理")
    assert answer.status_code == 302
    assert post(third, outcome="not_ours", reply="请联系隔壁物业").status_code == 302
    found = {r["request_id"]: (r["outcome"], r["duplicate_of"]) for r in database.rows(
        db, "SELECT request_id, outcome, duplicate_of FROM resident_reports")}
    assert found == {first: (None, None), second: ("duplicate", first), third: ("not_ours", None)}
    assert database.scalar(db, "SELECT status FROM requests WHERE id = ?", [second]) == "closed"
    tracking = client.get(f"/t/{code}?lang=en").get_data(as_text=True)
    assert "已有人反映，正在处理" in tracking and "Closed" in tracking
    history = client.get(f"/ledger/{second}?lang=en").get_data(as_text=True)
    assert f"duplicate of №{first}" in history and "the resident" in history


def test_call_back_contacts_go_90_days_after_closing(app, db, world):
    from fieldapp import privacy

    old, _code = factories.make_resident_report(db, world["token"], name="王秀英", phone="13812345678")
    recent, _code = factories.make_resident_report(db, world["token"], name="李大爷", phone="13912345678")
    db.execute("UPDATE requests SET status = 'closed', updated_at = CASE WHEN id = ? THEN '2020-01-01T00:00:00Z' "
               "ELSE updated_at END", [old])
    with app.app_context():
        privacy.purge(db)
    kept = {r["request_id"]: (r["name"], r["phone"]) for r in database.rows(
        db, "SELECT request_id, name, phone FROM resident_reports")}
    assert kept == {old: (None, None), recent: ("李大爷", "13912345678")}
