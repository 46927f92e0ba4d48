"""The offline copy: the session it is kept for, and which answers the phone may keep."""
import re

import pytest

from fieldapp.data import assignments
from fieldapp.data import db as database
from tests import factories


@pytest.fixture
def world(db):
    """Member m1's cell with a household and a resident; leader lead of that grid; admin boss."""
    grid = factories.make_grid(db)
    cell = factories.make_cell(db, grid)
    member = factories.make_user(db, "member", "m1")
    factories.make_user(db, "leader", "lead", grid_id=grid)
    factories.make_user(db, "admin", "boss")
    factories.assign(db, cell, member)
    household = factories.make_household(db, cell)
    factories.make_resident(db, household, name="王秀英", phone="13812345678")
    return {"member": member, "household": household, "cell": cell}


def session_of(client):
    """The session name /api/session gives."""
    return client.get("/api/session").get_json()["session"]


def test_the_session_has_an_opaque_name_that_changes_with_the_session(auth, client, db, world):
    assert session_of(client) is None
    auth.login("m1")
    first = session_of(client)
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first == session_of(client)
    assert "m1" not in first and str(world["member"]) != first
    auth.logout()
    assert session_of(client) is None
    auth.login("m1")
    assert session_of(client) not in (None, first)


def test_the_manifest_names_the_copy_its_households_token_and_session(auth, client, world):
    auth.login("m1")
    manifest = client.get("/api/offline-manifest").get_json()
    assert manifest["households"] == [world["household"]]
    assert manifest["urls"] == ["/households/", f"/households/{world['household']}",
                                f"/households/{world['household']}/visits/new"]
    assert manifest["session"] == session_of(client) and manifest["token"]
    assert manifest["token"] != client.get("/api/offline-manifest").get_json()["token"]  # one per copy


@pytest.mark.parametrize("path", ["/households/", "/households/{h}", "/households/{h}/visits/new"])
def test_the_pages_of_a_members_copy_are_marked_keepable_for_the_session(auth, client, world, path):
    auth.login("m1")
    page = client.get(path.format(h=world["household"]))
    assert page.status_code == 200
    assert page.headers["X-Offline-Keep"] == "1" and page.headers["X-Offline-Session"] == session_of(client)
    assert page.headers["Cache-Control"] == "no-store"  # the browser's HTTP cache still keeps nothing


@pytest.mark.parametrize("username, path, headers", [
    ("m1", "/coverage/", {}),                                   # a page the copy does not hold
    ("m1", "/coverage/export?format=csv", {}),                  # an attachment
    ("m1", "/households/{h}?saved=1", {}),                      # not the copy's own address
    ("m1", "/households/?status=due", {"HX-Request": "true"}),  # a fragment
    ("m1", "/households/{h}/visits/new", {"HX-Request": "true"}),
    ("m1", "/households/999999", {}),                           # out of scope: 404
    ("lead", "/households/{h}", {}),                            # a leader's copy holds the list only
    ("boss", "/households/{h}", {}),
])
def test_nothing_else_is_marked_keepable(auth, client, world, username, path, headers):
    auth.login(username)
    answer = client.get(path.format(h=world["household"]), headers=headers)
    assert answer.status_code in (200, 404)
    assert "X-Offline-Keep" not in answer.headers and "X-Offline-Session" not in answer.headers


def test_the_attachment_is_really_one(auth, client, world):
    auth.login("m1")
    export = client.get("/coverage/export?format=csv")
    assert export.status_code == 200 and export.headers["Content-Disposition"].startswith("attachment")


def test_a_signed_out_visitor_gets_no_mark(client, world):
    page = client.get("/auth/login")
    assert "X-Offline-Keep" not in page.headers


def test_the_copy_of_a_member_moved_off_a_cell_no_longer_names_its_households(auth, client, db, world):
    auth.login("m1")
    assert client.get("/api/offline-manifest").get_json()["households"] == [world["household"]]
    current = assignments.current(db, world["cell"], world["member"])
    assignments.end(db, current["id"])
    manifest = client.get("/api/offline-manifest").get_json()
    assert manifest["households"] == [] and manifest["urls"] == ["/households/"]


def test_a_link_on_another_site_makes_no_offline_copy(client, auth, db, world):
    auth.login("m1")
    answer = client.get("/api/offline-manifest", headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'offline_copy'") == 0
    assert client.get("/api/offline-manifest", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
