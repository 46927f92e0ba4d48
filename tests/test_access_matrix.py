"""The access matrix: every route of the app x every role x every scope has an expected answer.

A new route without an entry in ROUTES fails test_every_route_has_an_entry. Scopes: "own" is a target
in member m1's cell (grid A), "other_cell" in another cell of grid A, "other_grid" in grid B. Answers:
"ok" (access granted: any status but those below), "login" (redirect to sign in), 401, 403, 404.
"""
import contextlib
import io
import json
import os
import shutil
import uuid as uuidlib
import zipfile
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest

from fieldapp.data import db as database
from tests import engines, factories
from tests.conftest import AuthActions

ROLES = ("anon", "member", "leader", "admin", "partner")
TARGETS = ("own", "other_cell", "other_grid")

# Presets for the usual rules.
SCOPED = {"anon": "login", "member": {"own": "ok", "other_cell": 404, "other_grid": 404},
          "leader": {"own": "ok", "other_cell": "ok", "other_grid": 404}, "admin": "ok"}
SIGNED_IN = {"anon": "login", "member": "ok", "leader": "ok", "admin": "ok"}
PUBLIC = {"anon": "ok", "member": "ok", "leader": "ok", "admin": "ok", "partner": "ok"}
LEADERS = {"anon": "login", "member": 403, "leader": "ok", "admin": "ok"}
ADMINS = {"anon": "login", "member": 403, "leader": 403, "admin": "ok"}
LEADER_SCOPED = {"anon": "login", "member": 403, "leader": {"own": "ok", "other_cell": "ok", "other_grid": 404},
                 "admin": "ok"}
# A partner's own pages: the requests referred to its platform ("own"; "other_cell" is referred to another
# platform, "other_grid" to a third); staff are refused.
PARTNER_SCOPED = {"anon": "login", "member": 403, "leader": 403, "admin": 403,
                  "partner": {"own": "ok", "other_cell": 404, "other_grid": 404}}


@dataclass
class Named:
    """A record id that a route reads from its query string, form, JSON body or (beside another id) its path."""
    kind: str  # the world's records: households, cells, buildings, requests, residents, visits, members, grids
    where: str = "query"  # query | form | json | path
    build: object = None  # callable(value, world) -> params, JSON body or path; default {name: value}
    base: object = None  # callable(world) -> the path to send it to, when not the route's url for "own"


@dataclass
class Route:
    method: str
    url: object  # callable(world, target) -> path
    expect: dict
    data: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)  # parameter -> Named: tried with out-of-scope records below
    targets: tuple = TARGETS  # ("own",) for a route that names no record: the scopes would answer alike


def _household(world, target):
    return world["households"][target]


ROUTES = {
    "index": Route("GET", lambda w, t: "/", {"anon": "login", "member": "ok", "leader": "ok", "admin": "ok"}),
    "static": Route("GET", lambda w, t: "/static/css/app.css", PUBLIC),
    "auth.login": Route("GET", lambda w, t: "/auth/login", PUBLIC),
    # Signing out also ends on the sign-in page, so every role reads "login" here (see test_auth).
    "auth.logout": Route("POST", lambda w, t: "/auth/logout", {r: "login" for r in ROLES}),
    "households.mine": Route("GET", lambda w, t: "/households/", SIGNED_IN, ids={"building": Named("buildings")}),
    "households.show": Route("GET", lambda w, t: f"/households/{_household(w, t)}", SCOPED),
    "households.reveal_phone": Route(
        "POST", lambda w, t: f"/households/{_household(w, t)}/residents/{w['residents'][t]}/phone", SCOPED,
        ids={"resident": Named("residents", "path", lambda v, w: f"/households/{w['households']['own']}/residents/{v}/phone")}),
    "visits.new": Route("GET", lambda w, t: f"/households/{_household(w, t)}/visits/new", SCOPED),
    "visits.create": Route("POST", lambda w, t: f"/households/{_household(w, t)}/visits", SCOPED,
                           ids={"followup": Named("requests", "form", lambda v, w: {
                               "uuid": str(uuidlib.uuid4()), "outcome": "met", f"followup_{v}": "resolve",
                               f"followup_note_{v}": "已解决"})}),
    # Only the author may amend, within the window; others are refused (403) where they can see it.
    "visits.amend": Route(
        "GET", lambda w, t: f"/households/{_household(w, t)}/visits/{w['visits'][t]}/amend",
        {"anon": "login", "member": {"own": "ok", "other_cell": 404, "other_grid": 404},
         "leader": {"own": 403, "other_cell": 403, "other_grid": 404},
         "admin": {"own": 403, "other_cell": 403, "other_grid": 403}},
        ids={"visit": Named("visits", "path", lambda v, w: f"/households/{w['households']['own']}/visits/{v}/amend")}),
    "api.session": Route("GET", lambda w, t: "/api/session", PUBLIC),
    # The API answers 401 (not a redirect) to the signed-out; out-of-scope items are refused per item.
    "api.sync_visits": Route("POST", lambda w, t: "/api/visits", {**SIGNED_IN, "anon": 401}, ids={
        "household_id": Named("households", "json", lambda v, w: {"visits": [
            {"uuid": str(uuidlib.uuid4()), "household_id": v, "outcome": "met", "notes": ""}]}),
        "request_id": Named("requests", "json", lambda v, w: {"visits": [
            {"uuid": str(uuidlib.uuid4()), "household_id": w["households"]["own"], "outcome": "met", "notes": "",
             "followups": [{"request_id": v, "action": "resolve", "note": "已解决"}]}]}),
        # Register changes, inside a visit of the user's own household and on their own.
        "change_resident_id": Named("residents", "json", lambda v, w: {"visits": [
            {"uuid": str(uuidlib.uuid4()), "household_id": w["households"]["own"], "outcome": "met", "notes": "",
             "changes": [{"uuid": str(uuidlib.uuid4()), "kind": "resident_corrected", "resident_id": v,
                          "field": "name", "before": "x", "after": "改名", "reason": "核实"}]}]}),
        "change_household_id": Named("households", "json", lambda v, w: {"visits": [], "changes": [
            {"uuid": str(uuidlib.uuid4()), "kind": "resident_added", "household_id": v, "reason": "核实",
             "person": {"name": "混入居民"}}]})}),
    # Keeping the register current: a member in their cells, a leader in the grid, an admin everywhere; the
    # resident in the path must be of the household in the path.
    "register.add_resident": Route(
        "POST", lambda w, t: f"/households/{_household(w, t)}/residents/new", SCOPED,
        data={"uuid": "6f1c2b9e-3c1d-4a55-9e0b-5a7c1d2e3f40", "name": "新居民", "reason": "上门登记"}),
    "register.edit_resident": Route(
        "POST", lambda w, t: f"/households/{_household(w, t)}/residents/{w['residents'][t]}/edit", SCOPED,
        data={"uuid": "1d2e3f40-6f1c-4b9e-8c1d-4a559e0b5a7c", "name": "改名", "before_name": "x", "reason": "核实"},
        ids={"resident": Named("residents", "path",
                               lambda v, w: f"/households/{w['households']['own']}/residents/{v}/edit")}),
    "register.occupancy": Route(
        "POST", lambda w, t: f"/households/{_household(w, t)}/occupancy", SCOPED,
        data={"uuid": "2e3f401d-6f1c-4b9e-8c1d-4a559e0b5a7c", "before": "occupied", "occupancy": "vacant",
              "reason": "外出"}),
    "register.retire": Route(
        "POST", lambda w, t: f"/households/{_household(w, t)}/retire", SCOPED,
        data={"uuid": "3f401d2e-6f1c-4b9e-8c1d-4a559e0b5a7c", "retired": "demolished", "reason": "拆除"}),
    "register.add_household": Route("POST", lambda w, t: "/households/add", SIGNED_IN, ids={
        "cell_id": Named("cells", "form", lambda v, w: {
            "uuid": str(uuidlib.uuid4()), "cell_id": v, "place": "house", "house": "外来户", "lat": "30.28",
            "lon": "120.1", "reason": "上门发现"}, base=lambda w: "/households/add"),
        "building_id": Named("buildings", "form", lambda v, w: {
            "uuid": str(uuidlib.uuid4()), "cell_id": w["cells"]["own"], "place": "building", "building_id": v,
            "room": "999", "reason": "上门发现"}, base=lambda w: "/households/add")}),
    "api.offline_manifest": Route("GET", lambda w, t: "/api/offline-manifest", {**SIGNED_IN, "anon": 401}),
    "api.openapi": Route("GET", lambda w, t: "/api/openapi.json", PUBLIC),  # describes, holds no data
    "pwa.service_worker": Route("GET", lambda w, t: "/sw.js", PUBLIC),
    "pwa.manifest": Route("GET", lambda w, t: "/manifest.webmanifest", PUBLIC),
    "pwa.offline": Route("GET", lambda w, t: "/offline", PUBLIC),
    # Coverage and ledger: a member sees the coverage of their own cells; the ledger by scope; leaders assign and refer.
    "coverage.index": Route("GET", lambda w, t: "/coverage/", SIGNED_IN, ids={"grid": Named("grids")}),
    "coverage.not_visited": Route(
        "GET", lambda w, t: f"/coverage/not-visited?cell={w['cells'][t]}", SCOPED,
        ids={"cell": Named("cells", base=lambda w: "/coverage/not-visited"),
             "member": Named("members", base=lambda w: "/coverage/not-visited"),
             "grid": Named("grids", base=lambda w: "/coverage/not-visited"),
             # the households shown when the list opened, and those of them visited since
             "shown": Named("households", build=lambda v, w: {"shown": f"{w['households']['own']},{v}",
                                                              "since": "2000-01-01T00:00:00Z"})}),
    "coverage.print_view": Route("GET", lambda w, t: "/coverage/print", SIGNED_IN, ids={"grid": Named("grids")}),
    "coverage.export": Route("GET", lambda w, t: "/coverage/export?format=xlsx", SIGNED_IN,
                             ids={"grid": Named("grids")}),
    "ledger.index": Route("GET", lambda w, t: "/ledger/", SIGNED_IN,
                          ids={"cell": Named("cells"), "responsible": Named("members")}),
    "ledger.show": Route("GET", lambda w, t: f"/ledger/{w['requests'][t]}", SCOPED),
    "ledger.progress": Route("POST", lambda w, t: f"/ledger/{w['requests'][t]}/progress", SCOPED),
    "ledger.resolve": Route("POST", lambda w, t: f"/ledger/{w['requests'][t]}/resolve", SCOPED),
    "ledger.return_visit": Route("POST", lambda w, t: f"/ledger/{w['requests'][t]}/return-visit", SCOPED),
    "ledger.assign": Route("POST", lambda w, t: f"/ledger/{w['requests'][t]}/assign", {**SCOPED, "member": 403},
                           ids={"responsible_user_id": Named("members", "form", lambda v, w: {
                               "responsible_user_id": v, "due_date": "2099-01-01", "version": "1"})}),
    "ledger.refer": Route("POST", lambda w, t: f"/ledger/{w['requests'][t]}/refer", {**SCOPED, "member": 403}),
    "ledger.new": Route("GET", lambda w, t: f"/ledger/new?household={_household(w, t)}", {**SCOPED, "member": 403},
                        ids={"household": Named("households", base=lambda w: "/ledger/new")}),
    "accountability.index": Route("GET", lambda w, t: "/overdue/", LEADERS),
    # The monthly report: leaders their grid, admins the community or any grid; members have their service record.
    # The files for a month before the records (a message, not a file): access is decided first, and a PDF costs.
    **{f"reports.{name}": Route("GET", lambda w, t, path=path: path, LEADERS, ids={"grid": Named("grids")})
       for name, path in (("monthly", "/reports/monthly"), ("print_view", "/reports/monthly/print?month=1999-01"),
                          ("pdf", "/reports/monthly.pdf?month=1999-01"),
                          ("excel", "/reports/monthly.xlsx?month=1999-01"))},
    "accountability.export": Route("GET", lambda w, t: "/overdue/export?format=csv", LEADERS),
    "settings.index": Route("GET", lambda w, t: "/admin/settings/", ADMINS),
    "admin.index": Route("GET", lambda w, t: "/admin/", ADMINS),
    # Imports (admin), exports (leaders: their grid), accounts, assignments (leaders: their grid's cells).
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
    "assignments.transfer": Route("POST", lambda w, t: f"/assignments/cells/{w['cells'][t]}/transfer", LEADER_SCOPED,
                                  ids={"from": Named("members", "form", lambda v, w: {"from": v, "to": w["users"]["m1"]})}),
    "assignments.end": Route("POST", lambda w, t: f"/assignments/{w['assignments'][t]}/end", LEADER_SCOPED),
    "assignments.member": Route("GET", lambda w, t: f"/assignments/members/{w['users']['m1']}", LEADERS),
    "assignments.give_cell": Route("POST", lambda w, t: f"/assignments/members/{w['users']['m1']}/assign", LEADERS,
                                   ids={"cell": Named("cells", "form")}),
    # The map (each user sees their own scope) and its popups (scoped like the household pages).
    "map.index": Route("GET", lambda w, t: "/map/", SIGNED_IN,
                       ids={"cell": Named("cells"), "member": Named("members")}),
    "map.setup_js": Route("GET", lambda w, t: "/map/setup.js", SIGNED_IN),
    "map.data": Route("GET", lambda w, t: "/map/data.geojson", SIGNED_IN,
                      ids={"cell": Named("cells"), "member": Named("members")}),
    "map.shift": Route("GET", lambda w, t: "/map/shift?lon=120.1&lat=30.28", SIGNED_IN),
    "map.building": Route("GET", lambda w, t: f"/map/buildings/{w['buildings'][t]}", SCOPED),
    "map.household": Route("GET", lambda w, t: f"/map/households/{_household(w, t)}", SCOPED),
    "map.cell": Route("GET", lambda w, t: f"/map/cells/{w['cells'][t]}", SCOPED),
    # Privacy is the admin's (audit search, a resident's export, retention and anonymisation).
    "privacy.index": Route("GET", lambda w, t: "/privacy/", ADMINS),
    "privacy.retention": Route("POST", lambda w, t: "/privacy/retention", ADMINS, data={"retention_days": "400"}),
    "privacy.purge_now": Route("POST", lambda w, t: "/privacy/purge", ADMINS),
    "privacy.audit_log": Route("GET", lambda w, t: "/privacy/audit?action=login", ADMINS),
    "privacy.residents": Route("GET", lambda w, t: "/privacy/residents?q=王", ADMINS),
    "privacy.export_resident": Route(
        "GET", lambda w, t: f"/privacy/residents/{w['residents'][t]}/export.json", ADMINS),
    # Photos: the phone's upload answers per photo (a record out of scope: 404); a photo is seen with its household.
    "api.upload_photo": Route("POST", lambda w, t: "/api/photos", {**SIGNED_IN, "anon": 401}, ids={
        "record_uuid": Named("visits", "form", lambda v, w: {"record": "visit", "sha256": "0" * 64, "record_uuid": next(
            f"v-{t}" for t, visit in w["visits"].items() if visit == v)}),
        "request_id": Named("requests", "form", lambda v, w: {
            "record": "resolution", "record_uuid": "step-1", "sha256": "0" * 64, "request_id": v})}),
    **{f"photos.{name}": Route("GET", lambda w, t, end=end: f"/photos/{w['photos'][t]}{end}", SCOPED,
                               ids={"photo": Named("photos", "path", lambda v, w, end=end: f"/photos/{v}{end}")})
       for name, end in (("show", ""), ("thumb", "/thumb"))},
    # The review: leaders (their grid) decide; an item's page and its answer are also its author's.
    "review.index": Route("GET", lambda w, t: "/review/", LEADERS, ids={"grid": Named("grids")}),
    **{f"review.{name}": Route("GET", lambda w, t, part=part, kind=kind: f"/review/{part}/{w[kind][t]}", SCOPED,
                               ids={name: Named(kind, "path", lambda v, w, part=part: f"/review/{part}/{v}")})
       for name, part, kind in (("visit", "visits", "visits"), ("change", "changes", "changes"))},
    **{f"review.{action}_{name}": Route(
        "POST", lambda w, t, part=part, kind=kind, action=action: f"/review/{part}/{w[kind][t]}/{action}",
        SCOPED if action == "answer" else LEADER_SCOPED, data={"note": "请说明"},
        ids={name: Named(kind, "path", lambda v, w, part=part, action=action: f"/review/{part}/{v}/{action}")})
       for name, part, kind, actions in (("visit", "visits", "visits", ("accept", "ask", "reject", "answer")),
                                         ("change", "changes", "changes", ("accept", "ask", "apply", "keep", "answer")))
       for action in actions},
    # Hotline orders: the leader's grid, the admin's district; an uploaded batch is its uploader's (the lead's).
    "hotline.index": Route("GET", lambda w, t: "/hotline/", LEADERS, targets=("own",)),
    "hotline.new": Route("GET", lambda w, t: "/hotline/new", LEADERS, targets=("own",)),
    "hotline.upload": Route("POST", lambda w, t: "/hotline/import", LEADERS, targets=("own",)),
    "hotline.preview": Route("GET", lambda w, t: f"/hotline/import/{w['hotline_upload']}", {**LEADERS, "admin": 404},
                             targets=("own",)),
    "hotline.commit": Route("POST", lambda w, t: f"/hotline/import/{w['hotline_upload']}/commit",
                            {**LEADERS, "admin": 404}, targets=("own",)),
    "hotline.template": Route("GET", lambda w, t: "/hotline/template.csv", LEADERS, targets=("own",)),
    "hotline.replies": Route("GET", lambda w, t: "/hotline/replies.csv", LEADERS, targets=("own",)),
    # Partners: their referrals only; the slip also for staff who see the request.
    "partners.index": Route("GET", lambda w, t: "/partner/", {**PARTNER_SCOPED, "partner": "ok"}, targets=("own",)),
    "partners.show": Route("GET", lambda w, t: f"/partner/requests/{w['requests'][t]}", PARTNER_SCOPED),
    **{f"partners.{name}": Route("POST", lambda w, t, part=part: f"/partner/requests/{w['requests'][t]}/{part}",
                                 PARTNER_SCOPED, data={"reason": "不属于本平台", "reply": "已答复"})
       for name, part in (("accept", "accept"), ("reply", "reply"), ("ask", "ask"), ("hand_back", "hand-back"),
                          ("done", "done"))},
    "partners.slip": Route("GET", lambda w, t: f"/partner/requests/{w['requests'][t]}/slip",
                           {**SCOPED, "partner": PARTNER_SCOPED["partner"]}),
    # Residents report by QR code without an account; the tracking page shows no personal data.
    "report.new": Route("GET", lambda w, t: f"/r/{w['report_tokens'][t]}", PUBLIC),
    "report.sent": Route("GET", lambda w, t: f"/t/{w['tracking_codes'][t]}/sent", PUBLIC),
    "report.track": Route("GET", lambda w, t: f"/t/{w['tracking_codes'][t]}", PUBLIC),
    "report.rate": Route("POST", lambda w, t: f"/t/{w['tracking_codes'][t]}/rate", PUBLIC),
    "posters.index": Route("GET", lambda w, t: "/posters/", LEADERS),
    "posters.make_missing": Route("POST", lambda w, t: "/posters/make-missing", LEADERS),
    **{f"posters.{name}": Route(method, lambda w, t, part=part: f"/posters/building/{w['buildings'][t]}{part}", LEADER_SCOPED)
       for name, method, part in (("show", "GET", ""), ("replace", "POST", "/replace"), ("revoke", "POST", "/revoke"))},
    "triage.index": Route("GET", lambda w, t: "/triage/", SIGNED_IN),
    "triage.contact": Route("POST", lambda w, t: f"/triage/{w['reports'][t]}/contact", SCOPED),
    "triage.decide": Route("POST", lambda w, t: f"/triage/{w['reports'][t]}", SCOPED, ids={
        "duplicate_of": Named("requests", "form", lambda v, w: {"outcome": "duplicate", "duplicate_of": v,
                                                                "reply": "重复", "version": "1"}),
        "place": Named("households", "form", lambda v, w: {"outcome": "accepted", "place": v, "category": "medical",
                                                           "version": "1"})}),
    # Service records: a member their own, leaders their grid's (an admin any grid's); points and robots: admins.
    "service.mine": Route("GET", lambda w, t: "/service/mine", {**ADMINS, "member": "ok", "admin": 403}),
    "service.index": Route("GET", lambda w, t: "/service/", LEADERS, ids={"grid": Named("grids")}),
    "service.export": Route("GET", lambda w, t: "/service/export?format=xlsx", LEADERS, ids={"grid": Named("grids")}),
    "service.points_settings": Route("GET", lambda w, t: "/service/points", ADMINS),
    "reminders.index": Route("GET", lambda w, t: "/admin/reminders/", ADMINS),
    "reminders.edit": Route("GET", lambda w, t: f"/admin/reminders/grids/{w['grids'][t]}", ADMINS),
    "reminders.test": Route("POST", lambda w, t: f"/admin/reminders/grids/{w['grids'][t]}/test", ADMINS),
}
# A partner reaches its own pages and these; every other route refuses it (403).
PARTNER_REACHES = {"index": "ok", "static": "ok", "auth.login": "ok", "auth.logout": "login", "accounts.password": "ok",
                   "api.session": "ok", "api.openapi": "ok"}
for _endpoint, _route in ROUTES.items():
    _route.expect = {"partner": PARTNER_REACHES.get(_endpoint, 403), **_route.expect}


# Every record of a target carries its mark, so that a page that shows anything of it is caught.
MARKS = {"own": "本格标记", "other_cell": "邻格标记", "other_grid": "外网标记"}


LOGINS = {"member": "m1", "leader": "lead", "admin": "boss", "partner": "health"}


def _world_signed_in(app, engine, migrated_template, photo_folders, name):
    """A fresh database with the world built in it and a client per role signed in on it: its serving config,
    the world and the clients."""
    target = engine.fresh(migrated_template)
    serving = {"DATABASE": target, "PHOTOS": str(photo_folders / f"{name}-{uuidlib.uuid4().hex}")}
    conn = database.connect(target)
    try:
        with _serving(app, serving):
            world = build_world(conn, app)
    finally:
        conn.close()
    clients = {}
    with pytest.MonkeyPatch.context() as patch, _serving(app, serving):
        from fieldapp import auth

        patch.setattr(auth, "hasher", factories.FAST_HASHER)
        for role in ROLES:
            clients[role] = app.test_client()
            if role in LOGINS:
                AuthActions(clients[role]).login(LOGINS[role])
    return serving, world, clients


@pytest.fixture(scope="module")
def written(shared_app, engine, migrated_template, photo_folders):
    """The world and a sign-in per role (its session cookie and CSRF token), built once as a template that each
    case that writes clones: building the world and signing in cost more than the cases themselves."""
    serving, world, clients = _world_signed_in(shared_app, engine, migrated_template, photo_folders, "written")
    signed_in = {}
    with _serving(shared_app, serving):
        for role, client in clients.items():
            token = AuthActions(client).csrf_token()  # after the sign-in, whose session holds the token's secret
            signed_in[role] = {"token": token, "cookies": [(c.key, c.value) for c in client._cookies.values()]}
    engines.closed(serving["DATABASE"])
    yield {"target": serving["DATABASE"], "photos": serving["PHOTOS"], "world": world, "signed_in": signed_in}
    engine.drop(serving["DATABASE"])


@pytest.fixture
def world(shared_app, engine, written, photo_folders):
    """A copy of the written world (database and photo store) of a case's own, the app serving it."""
    target = engine.fresh(written["target"])
    photos = str(photo_folders / f"store-{uuidlib.uuid4().hex}")
    if os.path.isdir(written["photos"]):
        shutil.copytree(written["photos"], photos)
    with _serving(shared_app, {"DATABASE": target, "PHOTOS": photos}):
        yield written["world"]
    engine.drop(target)


@pytest.fixture
def db(world, shared_app):
    """A connection to the case's copy of the world."""
    conn = database.connect(shared_app.config["DATABASE"])
    yield conn
    conn.close()


def signed_in(app, written, role):
    """A client signed in as role (its session copied from the written world's sign-in) and its CSRF token."""
    client = app.test_client()
    for key, value in written["signed_in"][role]["cookies"]:
        client.set_cookie(key, value)
    return client, written["signed_in"][role]["token"]


@pytest.fixture(scope="module")
def reading(shared_app, engine, migrated_template, photo_folders):
    """One database, world and signed-in client per role for every case that only reads (a GET): what a GET
    leaves behind (an audit row, a session's language) decides no other GET's answer, and building a world
    and signing in for each of them cost more than the cases."""
    serving, world, clients = _world_signed_in(shared_app, engine, migrated_template, photo_folders, "reading")
    yield {"serving": serving, "world": world, "clients": clients}
    engine.drop(serving["DATABASE"])


@contextlib.contextmanager
def _serving(app, config):
    """The app on the database and photo store of config for the duration."""
    saved = {key: app.config.get(key) for key in config}
    app.config.update(config)
    try:
        yield
    finally:
        app.config.update(saved)


def build_world(db, app):
    """Grid A (cells A1 of member m1, A2 of member m2) led by `lead`; grid B with cell B1; admin `boss`."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    cells = {t: factories.make_cell(db, grid, lon=lon, name=f"{MARKS[t]}微网格")
             for t, grid, lon in (("own", grid_a, 120.10), ("other_cell", grid_a, 120.11), ("other_grid", grid_b, 120.12))}
    m1 = factories.make_user(db, "member", "m1")
    m2 = factories.make_user(db, "member", "m2")
    m3 = factories.make_user(db, "member", "m3")
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    factories.assign(db, cells["own"], m1)
    factories.assign(db, cells["other_cell"], m2)
    factories.assign(db, cells["other_grid"], m3)
    households = {t: factories.make_household(db, c, address=f"{MARKS[t]}地址") for t, c in cells.items()}
    residents = {t: factories.make_resident(db, h, name=f"{MARKS[t]}居民") for t, h in households.items()}
    authors = {"own": m1, "other_cell": m2, "other_grid": m3}
    now = factories._now()
    visits = {}
    from fieldapp.data.db import insert, write

    with write(db):
        for t, h in households.items():
            visits[t] = insert(db, "visits", {"uuid": f"v-{t}", "household_id": h, "user_id": authors[t], "visited_at": now,
                                             "received_at": now, "location_flag": "no_location", "outcome": "met",
                                             "notes": f"{MARKS[t]}走访"})
    from fieldapp.data import register

    changes = {t: register.record(db, {  # a phone's correction that met another value: a conflict to review
        "uuid": f"c-{t}", "household_id": h, "resident_id": residents[t], "visit_id": None, "user_id": authors[t],
        "made_at": now, "received_at": now, "day": now[:10], "kind": "resident_corrected", "field": "name",
        "before": "旧名", "after": f"{MARKS[t]}新名", "reason": "更正", "payload_sha256": None})[1]
        for t, h in households.items()}
    return {"grids": {"own": grid_a, "other_cell": grid_a, "other_grid": grid_b}, "cells": cells,
            "changes": changes,
            "households": households, "residents": residents,
            "visits": visits, "users": {"m1": m1, "m2": m2, "m3": m3}, "members": authors,
            "assignments": {t: db.execute("SELECT id FROM assignments WHERE cell_id = ?", [c]).fetchone()[0]
                            for t, c in cells.items()},
            "upload": factories.make_upload(db, "boss"),
            "requests": (requests := {t: factories.make_request(db, h, authors[t], description=f"{MARKS[t]}诉求")
                                      for t, h in households.items()}),
            "buildings": (buildings := {t: factories.make_building(db, c, name=f"{MARKS[t]}楼")
                                        for t, c in cells.items()}),
            "photos": {t: factories.make_photo(db, app, visit_id=visits[t], content=f"{MARKS[t]}照片".encode())
                       for t in households},
            **_referrals(db, requests), **_resident_reports(db, buildings, m1)}

def _referrals(db, requests):
    """Partner `health` of 社区卫生服务中心; own's request referred to it, the others to 工会 and 妇联; and the lead's
    uploaded batch of hotline orders."""
    from fieldapp.data.db import insert, scalar, write

    platform = {code: scalar(db, "SELECT id FROM partners WHERE code = ?", [code])
                for code in ("health_center", "trade_union", "womens_federation")}
    factories.make_user(db, "partner", "health", partner_id=platform["health_center"])
    lead = scalar(db, "SELECT id FROM users WHERE username = 'lead'")
    with write(db):
        for target, code in (("own", "health_center"), ("other_cell", "trade_union"),
                             ("other_grid", "womens_federation")):
            insert(db, "referrals", {"request_id": requests[target], "partner_id": platform[code], "referred_by": lead,
                                     "referred_at": factories._now(), "accept_by": "2099-01-01",
                                     "answer_by": "2099-01-01", "state": "referred"})
    content = "工单编号,受理时间,办理时限,诉求内容,楼栋,室\nX-1,2026-11-30 09:00,2026-12-05,路灯坏了,本格标记楼,101\n"
    return {"hotline_upload": factories.make_upload(db, "lead", kind="hotline", content=content.encode(),
                                                    filename="orders.csv")}


def _resident_reports(db, buildings, user_id):
    """Each target's building with a QR poster and a resident's report through it, waiting for triage."""
    tokens = {t: factories.make_report_token(db, user_id, building_id=b) for t, b in buildings.items()}
    made = {t: factories.make_resident_report(db, tokens[t], description=f"{MARKS[t]}报事") for t in tokens}
    return {"report_tokens": tokens, "reports": {t: r for t, (r, _code) in made.items()},
            "tracking_codes": {t: code for t, (_r, code) in made.items()}}


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


# The partner on its own pages in every scope, and elsewhere on its landing, the pages it reaches and a sample of
# those that refuse it (one guard refuses them all alike), in one scope: a partner on every route would add a
# quarter to the suite's most expensive test for nothing that the sample does not decide.
PARTNER_SAMPLE = {*PARTNER_REACHES, "households.mine", "households.show", "visits.create", "api.sync_visits",
                  "api.offline_manifest", "register.add_resident", "coverage.index", "ledger.index", "ledger.show",
                  "ledger.refer", "accountability.index", "admin.index", "accounts.users_list", "map.index",
                  "map.data", "map.household", "privacy.index", "review.index", "hotline.index", "hotline.replies"}
CASES = [(endpoint, role, target) for endpoint, route in ROUTES.items() for role in ROLES for target in route.targets
         if role != "partner" or endpoint.startswith("partners.")
         or (endpoint in PARTNER_SAMPLE and target == "own")]
if engines.POSTGRES:
    # On PostgreSQL every route for every signed-in role, in scope and out of the grid: the anonymous answers
    # (a redirect before any query) and the neighbouring cell (the same scope query as the other grid's) decide
    # nothing there that these do not, and the whole matrix runs on SQLite. Half the cases: the suite's time.
    CASES = [(endpoint, role, target) for endpoint, role, target in CASES
             if role != "anon" and target != "other_cell"]


@pytest.mark.parametrize("endpoint, role, target", [case for case in CASES if ROUTES[case[0]].method == "GET"])
def test_read_access(shared_app, reading, endpoint, role, target):
    route = ROUTES[endpoint]
    url = route.url(reading["world"], target)
    with _serving(shared_app, reading["serving"]):
        response = reading["clients"][role].get(url)
    assert _answer(response) == _expected(route, role, target), f"GET {url} as {role}"


@pytest.mark.parametrize("endpoint, role, target", [case for case in CASES if ROUTES[case[0]].method != "GET"])
def test_write_access(shared_app, written, world, endpoint, role, target):
    route = ROUTES[endpoint]
    client, token = signed_in(shared_app, written, role)
    url = route.url(world, target)
    response = client.open(url, method=route.method, data={"csrf_token": token, **route.data})
    assert _answer(response) == _expected(route, role, target), f"{route.method} {url} as {role}"


# --- Record ids named in the query string, a form or a JSON body ------------------------------------------------

# Who must not see which targets' records.
OUT_OF_SCOPE = {"member": ("other_cell", "other_grid"), "leader": ("other_grid",)}
ID_CASES = [(endpoint, name, role, other) for endpoint, route in ROUTES.items() for name in route.ids
            for role, others in OUT_OF_SCOPE.items() for other in others
            if _expected(route, role, "own") not in (403, "login")]


def _footprint(db, world, target):
    """What a write could change about a target's records: its visits, request, history, assignments, residents
    and review."""
    from fieldapp.data import db as database

    household, cell, request = world["households"][target], world["cells"][target], world["requests"][target]
    return (database.rows(db, "SELECT id FROM visits WHERE household_id = ?", [household]),
            database.rows(db, "SELECT status, version, responsible_user_id, due_date, referral FROM requests "
                              "WHERE id = ?", [request]),
            database.scalar(db, "SELECT count(*) FROM request_events WHERE request_id = ?", [request]),
            database.rows(db, "SELECT id, user_id, valid_to FROM assignments WHERE cell_id = ?", [cell]),
            database.rows(db, "SELECT name, phone FROM residents WHERE household_id = ?", [household]),
            database.rows(db, "SELECT id FROM photos WHERE visit_id = ? OR request_id = ?",
                          [world["visits"][target], request]),
            database.rows(db, "SELECT id FROM review_events WHERE (subject = 'visit' AND subject_id = ?) OR "
                              "(subject = 'change' AND subject_id = ?)",
                          [world["visits"][target], world["changes"][target]]))


def _readable(response):
    """All the text an answer carries: JSON unescaped, a workbook's sheets unzipped."""
    if response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
        with zipfile.ZipFile(io.BytesIO(response.data)) as workbook:
            return "".join(workbook.read(name).decode("utf-8", "replace") for name in workbook.namelist())
    if response.is_json:
        return json.dumps(response.get_json(), ensure_ascii=False)
    return response.get_data(as_text=True)


def _is_read(case):
    return ROUTES[case[0]].method == "GET"


@pytest.mark.parametrize("endpoint, name, role, other", [case for case in ID_CASES if _is_read(case)])
def test_record_ids_out_of_scope_read_nothing(shared_app, reading, endpoint, name, role, other):
    """Every id a page reads, given a record the user may not see, shows nothing of it and changes nothing."""
    conn = database.connect(reading["serving"]["DATABASE"])
    try:
        with _serving(shared_app, reading["serving"]):
            _tried_out_of_scope(reading["clients"][role], None, conn, reading["world"], endpoint, name, role, other)
    finally:
        conn.close()


@pytest.mark.parametrize("endpoint, name, role, other", [case for case in ID_CASES if not _is_read(case)])
def test_record_ids_out_of_scope_leak_nothing(shared_app, written, world, db, endpoint, name, role, other):
    """Every id a write reads, given a record the user may not see, shows nothing of it and changes nothing."""
    client, token = signed_in(shared_app, written, role)
    _tried_out_of_scope(client, token, db, world, endpoint, name, role, other)


def _tried_out_of_scope(client, token, db, world, endpoint, name, role, other):
    route, named = ROUTES[endpoint], ROUTES[endpoint].ids[name]
    value = world[named.kind][other]
    params = named.build(value, world) if named.build else {name: value}
    url = named.base(world) if named.base else route.url(world, "own")
    before = _footprint(db, world, other)
    if named.where == "path":
        url, params = params, {}
    if named.where == "query" and params:
        url += ("&" if "?" in url else "?") + urlencode(params)
    if route.method == "GET":
        response = client.get(url)
    elif named.where == "json":
        response = client.open(url, method=route.method, json=params, headers={"X-CSRFToken": token})
    else:
        form = {**route.data, **(params if named.where == "form" else {})}
        response = client.open(url, method=route.method, data={"csrf_token": token, **form})
    assert response.status_code < 500, f"{route.method} {url} as {role}"
    shown = _readable(response)
    assert MARKS[other] not in shown, f"{route.method} {url} as {role} shows the {other} record named by {name}"
    assert _footprint(db, world, other) == before, f"{route.method} {url} as {role} changed the {other} records"


# Parameters that views read and that name no record (or only the user's own choices): each one is either here
# or declared in a route's `ids`, so that a new id parameter cannot slip past the test above.
NOT_RECORDS = {
    "accuracy", "lat", "lon", "outcome", "notes", "no_location_reason", "reason", "visited_at", "uuid", "new_uuid",
    "new_category", "new_description", "action", "again", "answer", "before", "category", "channel", "crs",
    "current", "default_cycle_days", "display_name", "due_date", "end", "start", "period", "feedback", "format",
    "ip", "lang", "members", "new", "next", "note", "on", "order", "overdue", "page", "password", "q", "referral",
    "remember", "retention_days", "role", "saved", "since", "status", "table", "tag", "target_type", "username",
    "version", "csrf_token", "keep_requests", "month",
    "back_member",  # only where to go back to: the member's page checks its own access
    "residents_met",  # checked against the household's own residents
    "to",  # the member a cell is handed to: member accounts belong to no grid, any active member may take it
    "description", "resolution",  # a request's texts
    "user", "target_id",  # the admin's audit search: admins see everything
    "occupancy", "retired", "made_at",  # a register change's values
    "record", "sha256", "caption", "taken_at", "captions",  # a photo's kind of record, its hash and its texts
    "step_uuid",  # a resolve form's own client id (one of another request's step is refused)
    "save",  # which button of the visit form: the visit, or its register changes alone
    "place", "house", "unit", "room",  # where a household found at the door lies (its building is checked)
    "unreachable_attempts", "phone_calls_weekly",  # settings: a number and a flag
    "partner",  # the admin's new account: its platform (admins see every platform)
    "name", "phone", "consent", "comment", "reply", "size", "rated",  # a resident's report, its rating, a poster
    "month", "points", "ranking", "kind", "target", "digest_hour", "enabled",  # service records, robots
    "charts",  # an admin asks for the whole community's charts
}


def _parameters_read_by_views():
    """Parameter names the app reads from request.args / form / values (and the parsers' args / form): literal
    names, and the literal names passed to a helper that reads its argument from them (`_posted_member("to")`)."""
    import ast
    import pathlib

    sources = {"request.args", "request.form", "request.values", "args", "form"}

    def read_name(node):
        """The name node reads from a request source (a Constant or a Name node), or None."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "get", "getlist") and node.args and ast.unparse(node.func.value) in sources:
            return node.args[0]
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) in sources:
            return node.slice
        return None

    trees = {path: ast.parse(path.read_text()) for path in
             pathlib.Path(__file__).resolve().parent.parent.joinpath("fieldapp").rglob("*.py")}
    readers = {}  # helper name -> the position of the parameter it reads a request value by
    for tree in trees.values():
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            names = [a.arg for a in function.args.args]
            for node in ast.walk(function):
                found = read_name(node)
                if isinstance(found, ast.Name) and found.id in names:
                    readers[function.name] = names.index(found.id)
    found = {}
    for path, tree in trees.items():
        for node in ast.walk(tree):
            name = read_name(node)
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                found.setdefault(name.value, path.name)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in readers:
                position = readers[node.func.id]
                if position < len(node.args) and isinstance(node.args[position], ast.Constant):
                    found.setdefault(node.args[position].value, path.name)
    return found


def test_every_parameter_that_may_name_a_record_is_tried_out_of_scope():
    declared = {name for route in ROUTES.values() for name in route.ids}
    unknown = {name: where for name, where in _parameters_read_by_views().items()
               if name not in declared and name not in NOT_RECORDS}
    assert unknown == {}, "declare these in a route's ids (or, if they name no record, in NOT_RECORDS)"
