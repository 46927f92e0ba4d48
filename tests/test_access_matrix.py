"""The access matrix: every route of the app x every role x every scope has an expected answer.

A new route without an entry in ROUTES fails test_every_route_has_an_entry. Scopes: "own" is a target
in member m1's cell (grid A), "other_cell" in another cell of grid A, "other_grid" in grid B. Answers:
"ok" (access granted: any status but those below), "login" (redirect to sign in), 401, 403, 404.
"""
from dataclasses import dataclass, field

import pytest

from tests import factories

ROLES = ("anon", "member", "leader", "admin")
TARGETS = ("own", "other_cell", "other_grid")

# Presets for the usual rules.
SCOPED = {"anon": "login", "member": {"own": "ok", "other_cell": 404, "other_grid": 404},
          "leader": {"own": "ok", "other_cell": "ok", "other_grid": 404}, "admin": "ok"}
SIGNED_IN = {"anon": "login", "member": "ok", "leader": "ok", "admin": "ok"}
PUBLIC = {"anon": "ok", "member": "ok", "leader": "ok", "admin": "ok"}
LEADERS = {"anon": "login", "member": 403, "leader": "ok", "admin": "ok"}
ADMINS = {"anon": "login", "member": 403, "leader": 403, "admin": "ok"}


@dataclass
class Route:
    method: str
    url: object  # callable(world, target) -> path
    expect: dict
    data: dict = field(default_factory=dict)


def _household(world, target):
    return world["households"][target]


ROUTES = {
    "index": Route("GET", lambda w, t: "/", {"anon": "login", "member": "ok", "leader": "ok", "admin": "ok"}),
    "static": Route("GET", lambda w, t: "/static/css/app.css", PUBLIC),
    "auth.login": Route("GET", lambda w, t: "/auth/login", PUBLIC),
    # Signing out also ends on the sign-in page, so every role reads "login" here (see test_auth).
    "auth.logout": Route("POST", lambda w, t: "/auth/logout", {r: "login" for r in ROLES}),
    "households.mine": Route("GET", lambda w, t: "/households/", SIGNED_IN),
    "households.show": Route("GET", lambda w, t: f"/households/{_household(w, t)}", SCOPED),
    "households.reveal_phone": Route(
        "POST", lambda w, t: f"/households/{_household(w, t)}/residents/{w['residents'][t]}/phone", SCOPED),
    "visits.new": Route("GET", lambda w, t: f"/households/{_household(w, t)}/visits/new", SCOPED),
    "visits.create": Route("POST", lambda w, t: f"/households/{_household(w, t)}/visits", SCOPED),
    # Only the author may amend, within the window; others are refused (403) where they can see it.
    "visits.amend": Route(
        "GET", lambda w, t: f"/households/{_household(w, t)}/visits/{w['visits'][t]}/amend",
        {"anon": "login", "member": {"own": "ok", "other_cell": 404, "other_grid": 404},
         "leader": {"own": 403, "other_cell": 403, "other_grid": 404},
         "admin": {"own": 403, "other_cell": 403, "other_grid": 403}}),
    "api.session": Route("GET", lambda w, t: "/api/session", PUBLIC),
    # The API answers 401 (not a redirect) to the signed-out; out-of-scope items are refused per item.
    "api.sync_visits": Route("POST", lambda w, t: "/api/visits", {**SIGNED_IN, "anon": 401}),
    "api.offline_manifest": Route("GET", lambda w, t: "/api/offline-manifest", {**SIGNED_IN, "anon": 401}),
    "pwa.service_worker": Route("GET", lambda w, t: "/sw.js", PUBLIC),
    "pwa.manifest": Route("GET", lambda w, t: "/manifest.webmanifest", PUBLIC),
    "pwa.offline": Route("GET", lambda w, t: "/offline", PUBLIC),
    "coverage.index": Route("GET", lambda w, t: "/coverage/", LEADERS),
    "admin.index": Route("GET", lambda w, t: "/admin/", ADMINS),
}


@pytest.fixture
def world(db):
    """Grid A (cells A1 of member m1, A2 of member m2) led by `lead`; grid B with cell B1; admin `boss`."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    cells = {"own": factories.make_cell(db, grid_a, lon=120.10), "other_cell": factories.make_cell(db, grid_a, lon=120.11),
             "other_grid": factories.make_cell(db, grid_b, lon=120.12)}
    m1 = factories.make_user(db, "member", "m1")
    m2 = factories.make_user(db, "member", "m2")
    m3 = factories.make_user(db, "member", "m3")
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    factories.assign(db, cells["own"], m1)
    factories.assign(db, cells["other_cell"], m2)
    factories.assign(db, cells["other_grid"], m3)
    households = {t: factories.make_household(db, c) for t, c in cells.items()}
    residents = {t: factories.make_resident(db, h) for t, h in households.items()}
    authors = {"own": m1, "other_cell": m2, "other_grid": m3}
    now = factories._now()
    visits = {}
    from fieldapp.data.db import write

    with write(db):
        for t, h in households.items():
            visits[t] = db["visits"].insert({"uuid": f"v-{t}", "household_id": h, "user_id": authors[t], "visited_at": now,
                                             "received_at": now, "location_flag": "no_location", "outcome": "met"}).last_pk
    return {"grids": {"A": grid_a, "B": grid_b}, "cells": cells, "households": households, "residents": residents,
            "visits": visits}


def test_every_route_has_an_entry(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert sorted(endpoints - set(ROUTES)) == [], "add these routes to the access matrix"
    assert sorted(set(ROUTES) - endpoints) == [], "these entries name no route"


def _expected(route, role, target):
    rule = route.expect[role]
    return rule[target] if isinstance(rule, dict) else rule


def _answer(response):
    if response.status_code in (401, 403, 404):
        return response.status_code
    if response.status_code == 302 and "/auth/login" in response.headers.get("Location", ""):
        return "login"
    return "ok"


CASES = [(endpoint, role, target) for endpoint in ROUTES for role in ROLES for target in TARGETS]


@pytest.mark.parametrize("endpoint, role, target", CASES)
def test_access(app, client, auth, world, endpoint, role, target):
    route = ROUTES[endpoint]
    login_as = {"member": "m1", "leader": "lead", "admin": "boss"}.get(role)
    if login_as:
        auth.login(login_as)
    token = auth.csrf_token() if route.method != "GET" else None
    url = route.url(world, target)
    if route.method == "GET":
        response = client.get(url)
    else:
        response = client.open(url, method=route.method, data={"csrf_token": token, **route.data})
    assert _answer(response) == _expected(route, role, target), f"{route.method} {url} as {role}"
