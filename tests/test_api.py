"""The phone's sync API: per-item answers, idempotent resends, conflicts kept, nothing half written."""
import json
import uuid

import pytest

from fieldapp.data import db as database
from tests import factories


@pytest.fixture
def world(db):
    grid = factories.make_grid(db)
    own, other = factories.make_cell(db, grid, lon=120.10), factories.make_cell(db, grid, lon=120.11)
    member = factories.make_user(db, "member", "m1")
    factories.make_user(db, "member", "m2")
    factories.assign(db, own, member)
    household = factories.make_household(db, own, None, lon=120.1008, lat=30.2808)
    resident = factories.make_resident(db, household)
    return {"member": member, "household": household, "resident": resident,
            "foreign": factories.make_household(db, other)}


def item(household_id, **kw):
    body = {"uuid": str(uuid.uuid4()), "household_id": household_id, "visited_at": "2026-11-28T01:00:00Z",
            "lat": 30.2808, "lon": 120.1008, "accuracy": 10, "outcome": "met", "notes": "一切正常",
            "residents_met": [], "new_requests": [], "followups": []}
    body.update(kw)
    return body


@pytest.fixture
def api(client, auth, world, monkeypatch):
    """Signed in as m1; post(batch) sends it with a fresh token from /api/session."""
    from fieldapp import rules
    from datetime import datetime, timezone

    monkeypatch.setattr(rules, "utcnow", lambda: datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc))
    auth.login("m1")

    def post(visits, raw=None):
        token = client.get("/api/session").get_json()["csrf_token"]
        data = raw if raw is not None else json.dumps({"visits": visits})
        return client.post("/api/visits", data=data, content_type="application/json", headers={"X-CSRFToken": token})

    return post


def count(db, table="visits"):
    return database.scalar(db, f"SELECT count(*) FROM {table}")


def test_session_gives_user_and_fresh_token(client, auth, world):
    anonymous = client.get("/api/session").get_json()
    assert anonymous["user"] is None and anonymous["csrf_token"]
    auth.login("m1")
    signed_in = client.get("/api/session").get_json()
    assert signed_in["user"]["username"] == "m1" and signed_in["user"]["role"] == "member"


def test_batch_created_then_replay_adds_nothing(api, db, world):
    batch = [item(world["household"]) for _ in range(3)]
    first = api(batch).get_json()["results"]
    assert [r["status"] for r in first] == ["created"] * 3 and all(r["http_status"] == 201 for r in first)
    assert count(db) == 3
    again = api(batch).get_json()["results"]
    assert [r["status"] for r in again] == ["existing"] * 3
    assert [r["visit_id"] for r in again] == [r["visit_id"] for r in first]
    assert count(db) == 3


def test_conflicting_resend_is_409_kept_and_changes_nothing(api, db, world):
    original = item(world["household"])
    api([original])
    changed = dict(original, notes="完全不同的内容")
    result = api([changed]).get_json()["results"][0]
    assert result["status"] == "conflict" and result["http_status"] == 409
    assert database.scalar(db, "SELECT notes FROM visits WHERE uuid = ?", [original["uuid"]]) == "一切正常"
    kept = database.one(db, "SELECT uuid, body FROM sync_conflicts")
    assert kept["uuid"] == original["uuid"] and json.loads(kept["body"])["notes"] == "完全不同的内容"


def test_resend_after_its_follow_up_closed_the_request_is_still_existing(api, db, world):
    first = item(world["household"], new_requests=[{"uuid": str(uuid.uuid4()), "category": "medical",
                                                    "description": "需要体检"}])
    api([first])
    request_id = database.scalar(db, "SELECT id FROM requests")
    resolving = item(world["household"], followups=[{"request_id": request_id, "action": "resolve", "note": "已办"}])
    assert api([resolving]).get_json()["results"][0]["status"] == "created"
    # The request is resolved now; the same resend must still be recognised, not called a conflict.
    assert api([resolving]).get_json()["results"][0]["status"] == "existing"
    assert count(db, "sync_conflicts") == 0


def test_resend_to_a_household_retired_since_is_still_existing_and_a_new_visit_refused(api, db, world):
    first = item(world["household"])
    created = api([first]).get_json()["results"][0]
    db.execute("UPDATE households SET retired_at = '2026-11-28T01:30:00Z' WHERE id = ?", [world["household"]])
    again, new = api([first, item(world["household"])]).get_json()["results"]
    assert again["status"] == "existing" and again["visit_id"] == created["visit_id"]
    assert new["status"] == "rejected" and "household_id" in new["errors"]
    assert count(db) == 1 and count(db, "sync_conflicts") == 0


def test_each_item_stands_alone(api, db, world):
    good = item(world["household"])
    no_uuid = item(world["household"], uuid="")
    foreign = item(world["foreign"])
    bad = item(world["household"], outcome="")
    results = api([good, no_uuid, foreign, bad]).get_json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "rejected", "rejected"]
    assert "uuid" in results[1]["errors"]
    assert results[2]["http_status"] == 404 and "household_id" in results[2]["errors"]
    assert "outcome" in results[3]["errors"]
    assert count(db) == 1


@pytest.mark.parametrize("raw", ["not json", json.dumps({"visit": []}), json.dumps([1, 2])])
def test_malformed_body_is_one_clear_400(api, db, raw):
    response = api(None, raw=raw)
    assert response.status_code == 400 and "visits" in response.get_json()["error"]


def test_batch_over_the_limit_is_413(api, world):
    response = api([item(world["household"]) for _ in range(101)])
    assert response.status_code == 413


def test_body_over_the_limit_is_413(api, world):
    response = api(None, raw=json.dumps({"visits": [item(world["household"], notes="x" * 3_000_000)]}))
    assert response.status_code == 413


def test_signed_out_gets_401_json(client, world):
    token = client.get("/api/session").get_json()["csrf_token"]
    response = client.post("/api/visits", json={"visits": []}, headers={"X-CSRFToken": token})
    assert response.status_code == 401 and response.get_json()["signed_in"] is False


def test_missing_csrf_token_is_a_json_400(client, auth, world):
    auth.login("m1")
    response = client.post("/api/visits", json={"visits": []})
    assert response.status_code == 400 and response.get_json()["csrf"] is True


def test_offline_manifest_lists_own_households_only(client, auth, world):
    auth.login("m1")
    urls = client.get("/api/offline-manifest").get_json()["urls"]
    assert f"/households/{world['household']}" in urls
    assert f"/households/{world['household']}/visits/new" in urls
    assert not any(str(world["foreign"]) in url.split("/") for url in urls)


def test_service_worker_and_manifest(client):
    sw = client.get("/sw.js")
    assert sw.status_code == 200 and sw.headers["Cache-Control"] == "no-cache"
    body = sw.get_data(as_text=True)
    assert "__VERSION__" not in body and "/static/css/app.css" in body and "/offline" in body
    manifest = client.get("/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    data = manifest.get_json()
    assert data["name"] == "零距离" and data["lang"] == "zh-CN" and data["display"] == "standalone"
    assert {icon["sizes"] for icon in data["icons"]} == {"192x192", "512x512"}
    assert any(icon.get("purpose") == "maskable" for icon in data["icons"])
    for icon in data["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_every_page_links_the_manifest(client):
    assert 'rel="manifest"' in client.get("/auth/login").get_data(as_text=True)


def test_leader_sees_the_kept_conflict_on_the_household_page(api, client, auth, db, world):
    original = item(world["household"])
    api([original])
    api([dict(original, notes="手机上改过的备注")])
    auth.logout()
    grid_id = database.scalar(db, "SELECT grid_id FROM cells c JOIN households h ON h.cell_id = c.id WHERE h.id = ?",
                              [world["household"]])
    factories.make_user(db, "leader", "lead", grid_id=grid_id)
    auth.login("lead")
    body = client.get(f"/households/{world['household']}").get_data(as_text=True)
    assert "同步冲突" in body and "手机上改过的备注" in body
    assert "手机上改过的备注" not in body.split("</title>")[0]  # in the page, not in its title
    auth.logout()
    auth.login("m1")
    assert "手机上改过的备注" not in client.get(f"/households/{world['household']}").get_data(as_text=True)


# --- Register changes in the sync ---------------------------------------------------------------------------

def register_change(resident_id, **kw):
    body = {"uuid": str(uuid.uuid4()), "kind": "resident_corrected", "resident_id": resident_id, "field": "phone",
            "before": "138****1234", "after": "13900002222", "reason": "换了号码", "made_at": "2026-11-28T01:00:00Z"}
    body.update(kw)
    return body


def post_changes(api, visits=(), changes=None):
    from flask import json as flask_json

    body = {"visits": list(visits)}
    if changes is not None:
        body["changes"] = changes
    return api(None, raw=flask_json.dumps(body)).get_json()


def test_a_visit_carries_its_changes_and_a_resend_applies_them_once(api, db, world):
    added = {"uuid": str(uuid.uuid4()), "kind": "resident_added", "reason": "新搬来",
             "person": {"name": "李小明", "phone": "13900003333", "birth_year": 1990, "tags": []}}
    visit = item(world["household"], changes=[register_change(world["resident"]), added])
    first = post_changes(api, [visit])
    assert first["results"][0]["status"] == "created" and set(first["results"][0]) == {
        "uuid", "status", "http_status", "visit_id", "url"}  # the visit's answer as before
    assert [c["status"] for c in first["changes"]] == ["created", "created"]
    assert all(c["visit_uuid"] == visit["uuid"] for c in first["changes"])
    again = post_changes(api, [visit])
    assert again["results"][0]["status"] == "existing" and [c["status"] for c in again["changes"]] == [
        "existing", "existing"]
    visit_id = first["results"][0]["visit_id"]
    assert database.rows(db, "SELECT kind, visit_id FROM register_changes ORDER BY id") == [
        {"kind": "resident_corrected", "visit_id": visit_id}, {"kind": "resident_added", "visit_id": visit_id}]
    assert database.scalar(db, "SELECT phone FROM residents WHERE id = ?", [world["resident"]]) == "13900002222"
    assert database.scalar(db, "SELECT count(*) FROM residents WHERE name = '李小明'") == 1


def test_a_rejected_visit_applies_none_of_its_changes(api, db, world):
    visit = item(world["household"], outcome="", changes=[register_change(world["resident"])])
    answer = post_changes(api, [visit])
    assert answer["results"][0]["status"] == "rejected"
    assert answer["changes"][0]["status"] == "rejected" and "visit" in answer["changes"][0]["errors"]
    assert count(db, "register_changes") == 0 and count(db) == 0


def test_a_wrong_change_refuses_its_visit_with_the_message_at_the_field(api, db, world):
    visit = item(world["household"], changes=[register_change(world["resident"], after="12345")])
    answer = post_changes(api, [visit])
    assert answer["results"][0]["status"] == "rejected"
    assert f"r{world['resident']}_phone" in answer["results"][0]["errors"]
    assert "phone" in answer["changes"][0]["errors"]
    assert count(db) == 0 and count(db, "register_changes") == 0


def test_standalone_changes_each_answered_and_a_conflict_kept_not_resent(api, db, world):
    foreign_resident = factories.make_resident(db, world["foreign"], name="赵六")
    with database.write(db):  # someone else changed the number since the phone's copy
        db.execute("UPDATE residents SET phone = '13700007777' WHERE id = ?", [world["resident"]])
    changes = [
        register_change(world["resident"], household_id=world["household"]),
        register_change(world["resident"], household_id=world["household"], kind="tag_added", field="tag",
                        before=None, after="no_such_tag"),
        register_change(foreign_resident, household_id=world["household"]),
        register_change(foreign_resident, household_id=world["foreign"]),
    ]
    answer = post_changes(api, changes=changes)
    assert answer["results"] == []
    assert [c["status"] for c in answer["changes"]] == ["conflict", "rejected", "rejected", "rejected"]
    assert answer["changes"][0]["message"] and answer["changes"][0]["http_status"] == 202
    assert "tag" in answer["changes"][1]["errors"]
    assert set(answer["changes"][2]["errors"]) == {"resident_id"} and answer["changes"][2]["http_status"] == 404
    assert "household_id" in answer["changes"][3]["errors"]
    kept = database.one(db, "SELECT state, server_value FROM register_changes")
    assert kept == {"state": "conflict", "server_value": "13700007777"}
    assert database.scalar(db, "SELECT phone FROM residents WHERE id = ?", [world["resident"]]) == "13700007777"
    assert post_changes(api, changes=changes[:1])["changes"][0]["status"] == "conflict"
    assert count(db, "register_changes") == 1


def test_a_batch_of_changes_alone_needs_no_visits_key(api, db, world):
    from flask import json as flask_json

    body = {"changes": [register_change(world["resident"], household_id=world["household"])]}
    answer = api(None, raw=flask_json.dumps(body)).get_json()
    assert answer["results"] == [] and answer["changes"][0]["status"] == "created"
    too_many = {"changes": [register_change(world["resident"], household_id=world["household"])] * 101}
    assert api(None, raw=flask_json.dumps(too_many)).status_code == 413
