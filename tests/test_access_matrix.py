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
LEADER_SCOPED = {"anon": "login", "member": 403, "leader": {"own": "ok", "other_cell": "ok", "other_grid": 404},
                 "admin": "ok"}


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
    "api.openapi": Route("GET", lambda w, t: "/api/openapi.json", PUBLIC),  # issue 8: describes, holds no data
    "pwa.service_worker": Route("GET", lambda w, t: "/sw.js", PUBLIC),
    "pwa.manifest": Route("GET", lambda w, t: "/manifest.webmanifest", PUBLIC),
    "pwa.offline": Route("GET", lambda w, t: "/offline", PUBLIC),
    # Issue 6: a member sees the coverage of their own cells; the ledger by scope; leaders assign and refer.
    "coverage.index": Route("GET", lambda w, t: "/coverage/", SIGNED_IN),
    "coverage.not_visited": Route("GET", lambda w, t: f"/coverage/not-visited?cell={w['cells'][t]}", SCOPED),
    "coverage.print_view": Route("GET", lambda w, t: "/coverage/print", SIGNED_IN),
    "coverage.export": Route("GET", lambda w, t: "/coverage/export?format=xlsx", SIGNED_IN),
    "ledger.index": Route("GET", lambda w, t: "/ledger/", SIGNED_IN),
    "ledger.show": Route("GET", lambda w, t: f"/ledger/{w['requests'][t]}", SCOPED),
    "ledger.progress": Route("POST", lambda w, t: f"/ledger/{w['requests'][t]}/progress", SCOPED),
    "ledger.resolve": Route("POST", lambda w, t: f"/ledger/{w['requests'][t]}/resolve", SCOPED),
    "ledger.return_visit": Route("POST", lambda w, t: f"/ledger/{w['requests'][t]}/return-visit", SCOPED),
    "ledger.assign": Route("POST", lambda w, t: f"/ledger/{w['requests'][t]}/assign", {**SCOPED, "member": 403}),
    "ledger.refer": Route("POST", lambda w, t: f"/ledger/{w['requests'][t]}/refer", {**SCOPED, "member": 403}),
    "ledger.new": Route("GET", lambda w, t: f"/ledger/new?household={_household(w, t)}", {**SCOPED, "member": 403}),
    "accountability.index": Route("GET", lambda w, t: "/overdue/", LEADERS),
    "accountability.export": Route("GET", lambda w, t: "/overdue/export?format=csv", LEADERS),
    "settings.index": Route("GET", lambda w, t: "/admin/settings/", ADMINS),
    "admin.index": Route("GET", lambda w, t: "/admin/", ADMINS),
    # Issue 7: imports (admin), exports (leaders: their grid), accounts, assignments (leaders: their grid's cells).
    "admin.import_form": Route("GET", lambda w, t: "/admin/import", ADMINS),
    "admin.upload": Route("POST", lambda w, t: "/admin/import/cells", ADMINS),
    "admin.preview": Route("GET", lambda w, t: f"/admin/import/preview/{w['upload']}", ADMINS),
    "admin.commit": Route("POST", lambda w, t: f"/admin/import/preview/{w['upload']}/commit", ADMINS),
    "admin.template": Route("GET", lambda w, t: "/admin/import/template/households", ADMINS),
    "admin.export_form": Route("GET", lambda w, t: "/admin/export", LEADERS),
    "admin.export": Route("GET", lambda w, t: "/admin/export/households.csv", LEADERS),
    "accounts.users_list": Route("GET", lambda w, t: "/accounts/", ADMINS),
    "accounts.new": Route("GET", lambda w, t: "/accounts/new", ADMINS),
    "accounts.disable": Route("POST", lambda w, t: f"/accounts/{w['users']['m3']}/disable", ADMINS),
    "accounts.enable": Route("POST", lambda w, t: f"/accounts/{w['users']['m3']}/enable", ADMINS),
    "accounts.reset_password": Route("POST", lambda w, t: f"/accounts/{w['users']['m3']}/reset-password", ADMINS),
    "accounts.password": Route("GET", lambda w, t: "/accounts/password", SIGNED_IN),
    "assignments.index": Route("GET", lambda w, t: "/assignments/", LEADERS),
    "assignments.cell": Route("GET", lambda w, t: f"/assignments/cells/{w['cells'][t]}", LEADER_SCOPED),
    "assignments.assign": Route("POST", lambda w, t: f"/assignments/cells/{w['cells'][t]}/assign", LEADER_SCOPED),
    "assignments.transfer": Route("POST", lambda w, t: f"/assignments/cells/{w['cells'][t]}/transfer", LEADER_SCOPED),
    "assignments.end": Route("POST", lambda w, t: f"/assignments/{w['assignments'][t]}/end", LEADER_SCOPED),
    "assignments.member": Route("GET", lambda w, t: f"/assignments/members/{w['users']['m1']}", LEADERS),
    "assignments.give_cell": Route("POST", lambda w, t: f"/assignments/members/{w['users']['m1']}/assign", LEADERS),
    # Issue 5: the map (each user sees their own scope) and its popups (scoped like the household pages).
    "map.index": Route("GET", lambda w, t: "/map/", SIGNED_IN),
    "map.setup_js": Route("GET", lambda w, t: "/map/setup.js", SIGNED_IN),
    "map.data": Route("GET", lambda w, t: "/map/data.geojson", SIGNED_IN),
    "map.shift": Route("GET", lambda w, t: "/map/shift?lon=120.1&lat=30.28", SIGNED_IN),
    "map.building": Route("GET", lambda w, t: f"/map/buildings/{w['buildings'][t]}", SCOPED),
    "map.household": Route("GET", lambda w, t: f"/map/households/{_household(w, t)}", SCOPED),
    "map.cell": Route("GET", lambda w, t: f"/map/cells/{w['cells'][t]}", SCOPED),
    # Issue 8: privacy is the admin's (audit search, a resident's export, retention and anonymisation).
    "privacy.index": Route("GET", lambda w, t: "/privacy/", ADMINS),
    "privacy.retention": Route("POST", lambda w, t: "/privacy/retention", ADMINS, data={"retention_days": "400"}),
    "privacy.purge_now": Route("POST", lambda w, t: "/privacy/purge", ADMINS),
    "privacy.audit_log": Route("GET", lambda w, t: "/privacy/audit?action=login", ADMINS),
    "privacy.residents": Route("GET", lambda w, t: "/privacy/residents?q=王", ADMINS),
    "privacy.export_resident": Route(
        "GET", lambda w, t: f"/privacy/residents/{w['residents'][t]}/export.json", ADMINS),
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
            "visits": visits, "users": {"m1": m1, "m2": m2, "m3": m3},
            "assignments": {t: db.execute("SELECT id FROM assignments WHERE cell_id = ?", [c]).fetchone()[0]
                            for t, c in cells.items()},
            "upload": factories.make_upload(db, "boss"),
            "requests": {t: factories.make_request(db, h, authors[t]) for t, h in households.items()},
            "buildings": {t: factories.make_building(db, c) for t, c in cells.items()}}


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
