"""Two app servers on one database, as behind a load balancer: the real gunicorn twice, on two ports, with one
secret key. Whatever one server writes or counts, the other sees at once; a session of one is valid on both.

On SQLite the two servers share the file; on PostgreSQL (FIELDAPP_TEST_ENGINE=postgresql) the database.
"""
import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from bench.server import Server
from fieldapp import geo
from fieldapp.data import db as database
from tests import factories


@pytest.fixture
def community(engine, migrated_template):
    """A database of its own: member m1 holds a cell with a building of two households; m2 has no cell."""
    target = engine.fresh(migrated_template)
    db = database.connect(target)
    grid = factories.make_grid(db)
    cell = factories.make_cell(db, grid, lon=120.10)
    factories.assign(db, cell, factories.make_user(db, "member", "m1"))
    factories.make_user(db, "member", "m2")
    building = factories.make_building(db, cell, lon=120.1010, lat=30.2810, name="3号楼")
    visited = factories.make_household(db, cell, building, unit="2", room="501", address="翠苑 3号楼 2单元 501室")
    factories.make_household(db, cell, building, unit="1", room="101", address="翠苑 3号楼 1单元 101室")
    db.close()
    yield {"target": target, "building": building, "household": visited}
    engine.drop(target)


@pytest.fixture
def servers(community, tmp_path):
    """Servers A (two workers) and B (one), started at the same time on the same database."""
    pair = [Server(community["target"], workers=workers, threads=2, log_path=str(tmp_path / f"gunicorn-{name}.log"))
            for name, workers in (("a", 2), ("b", 1))]
    failures = []

    def start(server):
        try:
            server.start()
        except RuntimeError as error:
            failures.append(error)

    threads = [threading.Thread(target=start, args=(server,)) for server in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not failures, failures
        yield pair
    finally:
        for server in pair:
            if server.process and server.process.poll() is None:
                server.stop()


class Browser:
    """A browser talking to one server over HTTP: its own cookies, English pages, its server as Origin."""

    def __init__(self, server):
        self.server = server
        self.http = requests.Session()
        self.http.headers["Accept-Language"] = "en"

    def get(self, path):
        return self.http.get(self.server.url + path, allow_redirects=False, timeout=10)

    def post(self, path, **kw):
        headers = {"Origin": self.server.url, **kw.pop("headers", {})}
        return self.http.post(self.server.url + path, headers=headers, allow_redirects=False, timeout=10, **kw)

    def sign_in(self, username, password=factories.PASSWORD):
        page = self.get("/auth/login").text
        marker = 'name="csrf-token" content="'
        start = page.index(marker) + len(marker)
        token = page[start:page.index('"', start)]
        return self.post("/auth/login", data={"username": username, "password": password, "csrf_token": token})


def _building_counts(browser, building_id):
    """The map's households of the building per status (rules.STATUSES: overdue, open, due, visited, vacant)."""
    answer = browser.get("/map/data.geojson")
    assert answer.status_code == 200, answer.text
    return geo.read_map_columns(answer.json())["points"][f"b{building_id}"]["n"]


def test_a_visit_sent_to_one_server_shows_at_once_on_the_other(servers, community):
    a, b = Browser(servers[0]), Browser(servers[1])
    page = f"/households/{community['household']}"
    assert a.sign_in("m1").status_code == 302
    # The session made by A, copied into a browser that talks to B, is signed in there: B needs no sign-in.
    anonymous = b.get(page)
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    b.http.cookies.update(a.http.cookies)
    before = b.get(page)
    assert before.status_code == 200 and "翠苑 3号楼 2单元 501室" in before.text
    assert b.get("/api/session").json()["user"]["username"] == "m1"
    assert _building_counts(b, community["building"]) == [0, 0, 2, 0, 0]  # B has built (and cached) its map

    note = f"两台服务器 {uuid.uuid4().hex[:8]}"
    visited_at = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    visit = {"uuid": str(uuid.uuid4()), "household_id": community["household"], "visited_at": visited_at,
             "lat": 30.2811, "lon": 120.1011, "accuracy": 10, "outcome": "met", "notes": note,
             "residents_met": [], "new_requests": [], "followups": []}
    token = a.get("/api/session").json()["csrf_token"]
    sent = a.post("/api/visits", data=json.dumps({"visits": [visit]}),
                  headers={"Content-Type": "application/json", "X-CSRFToken": token})
    assert sent.status_code == 200, sent.text
    assert [r["status"] for r in sent.json()["results"]] == ["created"]

    assert note in b.get(page).text
    assert _building_counts(b, community["building"]) == [0, 0, 1, 1, 0]  # one household no longer due
    # The resend of the same visit to B is known there as the stored one.
    token = b.get("/api/session").json()["csrf_token"]
    again = b.post("/api/visits", data=json.dumps({"visits": [visit]}),
                   headers={"Content-Type": "application/json", "X-CSRFToken": token})
    assert [r["status"] for r in again.json()["results"]] == ["existing"]
    assert again.json()["results"][0]["visit_id"] == sent.json()["results"][0]["visit_id"]


def test_failed_sign_ins_on_both_servers_add_up_to_the_throttle(servers):
    a, b = Browser(servers[0]), Browser(servers[1])
    # Five failures (the limit for an account from one address), three on A and two on B: neither server alone
    # has seen five.
    for browser in (a, b, a, b, a):
        failed = browser.sign_in("m2", "wrong password")
        assert failed.status_code == 401 and "Wrong username or password" in failed.text
    for browser in (b, a):  # the right password now waits on either server, and no password is checked
        throttled = browser.sign_in("m2")
        assert throttled.status_code == 429, throttled.text
        assert "Too many failed sign-ins" in throttled.text and int(throttled.headers["Retry-After"]) > 0
        assert browser.get("/api/session").json()["user"] is None
    # Another account signs in on both as before: the throttle is the account's from this address.
    assert a.sign_in("m1").status_code == 302 and b.sign_in("m1").status_code == 302
