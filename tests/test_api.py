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
