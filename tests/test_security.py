"""Security: headers, HTTPS behind a proxy, sign-in throttling, session timeouts and revocation, the audit of
sign-ins, body limits, and the scope checks the access matrix cannot make (follow-ups inside a visit batch)."""
import io
import json
import uuid
from datetime import timedelta

import pytest

from fieldapp import create_app, rules, security
from fieldapp.data import db as database
from tests import factories

HOUR = 3600


@pytest.fixture
def world(db):
    """Grid A: cells of m1 and m2 (leader lead); grid B: a cell of m3; each household with an open request."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    cells = {"own": factories.make_cell(db, grid_a), "other_cell": factories.make_cell(db, grid_a, lon=120.11),
             "other_grid": factories.make_cell(db, grid_b, lon=120.12)}
    members = {"own": factories.make_user(db, "member", "m1"), "other_cell": factories.make_user(db, "member", "m2"),
               "other_grid": factories.make_user(db, "member", "m3")}
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    households = {}
    for place, cell in cells.items():
        factories.assign(db, cell, members[place])
        households[place] = factories.make_household(db, cell)
    households["neighbour"] = factories.make_household(db, cells["own"])
    requests = {place: factories.make_request(db, household, members.get(place, members["own"]))
                for place, household in households.items()}
    return {"households": households, "requests": requests, "members": members}


@pytest.fixture
def clock(monkeypatch):
    """Move the session clock: clock.advance(seconds)."""
    class Clock:
        now = security.now_seconds()

        def advance(self, seconds):
            self.now += seconds

    fake = Clock()
    monkeypatch.setattr(security, "now_seconds", lambda: fake.now)
    return fake


# --- Headers ----------------------------------------------------------------------------------------------------

def test_every_page_carries_the_security_headers(client, auth, world):
    auth.login("m1")
    response = client.get(f"/households/{world['households']['own']}")
    csp = response.headers["Content-Security-Policy"]
    script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "geolocation=(self)" in response.headers["Permissions-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: no HSTS
    assert client.get("/api/offline-manifest").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/css/app.css").headers.get("Cache-Control", "")


def test_over_https_cookies_are_secure_and_hsts_is_sent(client, world):
    page = client.get("/auth/login", base_url="https://localhost")
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    token = page.get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post("/auth/login", base_url="https://localhost", headers={"Referer": "https://localhost/"},
                           data={"username": "m1", "password": factories.PASSWORD, "remember": "1",
                                 "csrf_token": token})
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    assert {c.split("=")[0] for c in cookies} >= {"session", "remember_token"}
    for cookie in cookies:
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_behind_a_proxy_the_forwarded_scheme_and_address_count(engine, migrated_template):
    path = engine.fresh(migrated_template)
    proxied = create_app({"TESTING": True, "DATABASE": path, "SECRET_KEY": "x", "BEHIND_PROXY": True})
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    page = proxied.test_client().get("/auth/login", headers=headers)
    assert "Strict-Transport-Security" in page.headers
    assert all("; Secure" in cookie for cookie in page.headers.getlist("Set-Cookie"))
    client = proxied.test_client()
    token = client.get("/auth/login").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    client.post("/auth/login", data={"username": "nobody", "password": "x", "csrf_token": token},
                headers={**headers, "Referer": "https://localhost/"})
    db = database.connect(path)
    assert database.scalar(db, "SELECT ip FROM audit_log WHERE action = 'login_failed'") == "203.0.113.7"
    db.close()
    engine.drop(path)


def test_without_a_proxy_forwarded_headers_are_ignored(client):
    page = client.get("/auth/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in page.headers


# --- Sign-in: throttling and the audit --------------------------------------------------------------------------

def test_wait_seconds_counts_from_the_oldest_failure_that_still_counts():
    assert security.wait_seconds([100, 200, 300], now=310, limit=4, window=900) == 0
    assert security.wait_seconds([100, 200, 300, 400], now=410, limit=4, window=900) == 590
    assert security.wait_seconds([100, 200, 300, 400, 500], now=410, limit=4, window=900) == 690
    assert security.wait_seconds([100, 200, 300, 400], now=1001, limit=4, window=900) == 0


def test_an_account_is_throttled_after_five_failures_with_a_clear_wait(auth, client, db, world):
    for _ in range(5):
        assert auth.login("m1", "wrong password").status_code == 401
    response = auth.login("m1")  # even the right password waits now
    body = response.get_data(as_text=True)
    assert response.status_code == 429 and "登录失败次数过多" in body and "15 分钟后再试" in body
    assert response.headers["Retry-After"] == "900"
    assert client.get("/households/").status_code == 302
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'login_throttled'") == 1
    english = client.post("/auth/login?lang=en", data={"username": "m1", "password": "x",
                                                       "csrf_token": auth.csrf_token("/auth/login?lang=en")})
    assert "Too many failed sign-ins. Try again in 15 minutes." in english.get_data(as_text=True)


def test_the_throttle_is_shared_by_every_client_and_lifts_after_the_window(app, auth, world, monkeypatch):
    for _ in range(5):
        auth.login("m1", "wrong password")
    other_phone = app.test_client()  # another device, another worker: the count lives in the database
    token = other_phone.get("/auth/login").get_data(as_text=True).split('name="csrf-token" content="')[1][:200]
    token = token.split('"')[0]
    data = {"username": "M1", "password": factories.PASSWORD, "csrf_token": token}
    assert other_phone.post("/auth/login", data=data).status_code == 429  # usernames ignore case
    later = rules.utcnow() + timedelta(minutes=16)
    monkeypatch.setattr(rules, "utcnow", lambda: later)
    assert other_phone.post("/auth/login", data=data).status_code == 302


def test_a_success_clears_the_account_count_but_not_the_address_count(app, world):
    office = "10.5.5.5"  # one address, many phones that never signed in to these accounts
    for _ in range(4):
        _sign_in_from(app, "m1", "wrong password", office)
    assert _sign_in_from(app, "m1", factories.PASSWORD, office) == 302
    for _ in range(4):
        _sign_in_from(app, "m1", "wrong password", office)
    assert _sign_in_from(app, "m1", factories.PASSWORD, office) == 302
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 10  # this address has failed 8 times by now
    _sign_in_from(app, "m2", "wrong password", office)
    _sign_in_from(app, "lead", "wrong password", office)
    assert _sign_in_from(app, "boss", factories.PASSWORD, office) == 429


def test_sign_in_failure_and_sign_out_are_audited_with_the_address(auth, db, world):
    auth.login("m1", "wrong password")
    auth.login("m1")
    auth.logout()
    entries = database.rows(db, "SELECT action, user_id, ip FROM audit_log ORDER BY id")
    m1 = world["members"]["own"]
    assert [(e["action"], e["user_id"]) for e in entries] == [("login_failed", m1), ("login", m1), ("logout", m1)]
    assert {e["ip"] for e in entries} == {"127.0.0.1"}


# --- Sessions: revocation and timeouts --------------------------------------------------------------------------

def test_signing_out_ends_the_session_on_every_device_and_in_copied_cookies(app, auth, client, world):
    auth.login("m1")
    copied = client.get_cookie("session").value
    desktop = app.test_client()
    from tests.conftest import AuthActions

    AuthActions(desktop).login("m1")
    assert desktop.get("/households/").status_code == 200
    auth.logout()
    assert desktop.get("/households/").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/households/").status_code == 302


def test_changing_the_password_ends_the_other_sessions(app, auth, client, world):
    auth.login("m1")
    desktop = app.test_client()
    from tests.conftest import AuthActions

    AuthActions(desktop).login("m1")
    new_password = "a quite new password 7"
    response = client.post("/accounts/password", data={
        "current": factories.PASSWORD, "new": new_password, "again": new_password,
        "csrf_token": auth.csrf_token("/accounts/password")})
    assert response.status_code == 303
    assert client.get("/households/").status_code == 200  # this session goes on
    assert desktop.get("/households/").status_code == 302


def test_an_idle_session_ends_after_an_hour_without_activity(auth, client, db, clock, world):
    auth.login("m1")
    clock.advance(50 * 60)
    assert client.get("/households/").status_code == 200  # activity: the hour starts again
    clock.advance(50 * 60)
    assert client.get("/households/").status_code == 200
    clock.advance(61 * 60)
    response = client.get("/households/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert "会话已结束" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert database.one(db, "SELECT detail FROM audit_log WHERE action = 'session_expired'")["detail"] == \
        '{"reason": "idle"}'


def test_the_phones_session_check_is_not_activity(auth, client, clock, world):
    auth.login("m1")
    for _ in range(4):  # the offline queue asks every 30 s; here every 20 minutes
        clock.advance(20 * 60)
        client.get("/api/session")
    assert client.get("/api/session").get_json()["user"] is None
    api = client.get("/api/offline-manifest")
    assert api.status_code == 401 and api.get_json()["signed_in"] is False


def test_a_session_ends_after_twelve_hours_however_active(auth, client, clock, world):
    auth.login("m1")
    for _ in range(24):
        clock.advance(30 * 60)
        assert client.get("/households/").status_code == 200
    clock.advance(60)
    assert client.get("/households/").status_code == 302


def test_a_remembered_phone_stays_signed_in_for_30_days_and_no_longer(auth, client, clock, world):
    auth.login("m1", remember=True)
    clock.advance(3 * 24 * HOUR)  # three days in a drawer
    client.delete_cookie("session")  # the browser was closed: the remember-me cookie signs in again
    assert client.get("/households/").status_code == 200
    clock.advance(27 * 24 * HOUR + 60)
    response = client.get("/households/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert client.get("/households/").status_code == 302  # and the remember-me cookie was withdrawn


def test_an_expired_api_call_is_a_json_401(auth, client, clock, world):
    auth.login("m1")
    token = client.get("/api/session").get_json()["csrf_token"]
    clock.advance(2 * HOUR)
    response = client.post("/api/visits", json={"visits": []}, headers={"X-CSRFToken": token})
    assert response.status_code == 401 and response.get_json()["signed_in"] is False
    assert "请重新登录" in response.get_json()["error"]


# --- Body limits ---------------------------------------------------------------------------------------------

def test_a_10_mb_json_body_is_refused_before_it_is_read(auth, client, world):
    auth.login("m1")
    token = client.get("/api/session").get_json()["csrf_token"]
    body = json.dumps({"visits": [{"notes": "x" * 10 * 1024 * 1024}]})
    response = client.post("/api/visits", data=body, content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert response.status_code == 413 and response.get_json()["error"] == "请求内容过大：最多 2 MB。"
    # Refused from its Content-Length: a body that claims 10 MB is not even waited for.
    lying = client.post("/api/visits", data=b"{}", content_type="application/json", headers={"X-CSRFToken": token},
                        environ_overrides={"CONTENT_LENGTH": str(10 * 1024 * 1024)})
    assert lying.status_code == 413


def test_a_big_form_body_gets_a_page_and_a_50_mb_upload_is_refused(auth, client, world):
    auth.login("boss")
    token = auth.csrf_token("/")
    page = client.post("/households/1/visits", data=b"x" * (3 * 1024 * 1024),
                       content_type="application/x-www-form-urlencoded")
    assert page.status_code == 413 and "请求内容过大" in page.get_data(as_text=True)
    upload = client.post("/admin/import/cells", data={
        "csrf_token": token, "file": (io.BytesIO(b"x" * (50 * 1024 * 1024)), "cells.geojson")},
        content_type="multipart/form-data")
    assert upload.status_code == 413 and "过大" in upload.get_data(as_text=True)


# --- Scope inside a visit batch and the visit form -------------------------------------------------------------

def _batch_item(household_id, request_id):
    return {"uuid": str(uuid.uuid4()), "household_id": household_id, "outcome": "met", "notes": "",
            "followups": [{"request_id": request_id, "action": "resolve", "note": "已解决"}]}


@pytest.mark.parametrize("place", ["other_grid", "other_cell", "neighbour"])
def test_a_follow_up_of_another_households_request_is_refused_in_the_batch(auth, client, db, world, place):
    auth.login("m1")
    token = client.get("/api/session").get_json()["csrf_token"]
    foreign = world["requests"][place]
    good = {"uuid": str(uuid.uuid4()), "household_id": world["households"]["own"], "outcome": "met"}
    batch = [_batch_item(world["households"]["own"], foreign), good]
    results = client.post("/api/visits", json={"visits": batch}, headers={"X-CSRFToken": token}).get_json()["results"]
    assert results[0]["status"] == "rejected" and results[0]["http_status"] == 404 and "followups" in results[0]["errors"]
    assert results[1]["status"] == "created"  # each item stands alone
    assert database.scalar(db, "SELECT status FROM requests WHERE id = ?", [foreign]) == "open"
    assert database.scalar(db, "SELECT count(*) FROM request_events WHERE request_id = ?", [foreign]) == 1
    assert database.scalar(db, "SELECT count(*) FROM visits") == 1


def test_the_visit_form_ignores_a_follow_up_of_another_cells_request(auth, client, db, world):
    auth.login("m1")
    foreign = world["requests"]["other_cell"]
    household = world["households"]["own"]
    response = client.post(f"/households/{household}/visits", data={
        "csrf_token": auth.csrf_token(f"/households/{household}/visits/new"), "uuid": str(uuid.uuid4()),
        "outcome": "met", f"followup_{foreign}": "resolve", f"followup_note_{foreign}": "已解决"})
    assert response.status_code == 302
    assert database.scalar(db, "SELECT status FROM requests WHERE id = ?", [foreign]) == "open"


def test_a_batch_item_for_another_grids_household_is_refused(auth, client, db, world):
    auth.login("m1")
    token = client.get("/api/session").get_json()["csrf_token"]
    item = {"uuid": str(uuid.uuid4()), "household_id": world["households"]["other_grid"], "outcome": "met"}
    result = client.post("/api/visits", json={"visits": [item]}, headers={"X-CSRFToken": token}).get_json()
    assert result["results"][0]["http_status"] == 404
    assert database.scalar(db, "SELECT count(*) FROM visits") == 0


# --- Cross-site requests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Referer": "https://evil.example/page"},
                                     {"Origin": "http://localhost.evil.example"}])
def test_a_state_changing_request_from_another_site_is_refused(auth, client, db, world, headers):
    auth.login("boss")
    member = world["members"]["own"]
    token = auth.csrf_token("/accounts/")
    response = client.post(f"/accounts/{member}/disable", data={"csrf_token": token}, headers=headers)
    assert response.status_code == 403
    assert "并非来自本应用的页面" in response.get_data(as_text=True)
    assert database.scalar(db, "SELECT active FROM users WHERE id = ?", [member]) == 1


def test_an_api_write_from_another_site_is_refused_as_json(auth, client, db, world):
    auth.login("m1")
    token = auth.csrf_token("/households/")
    response = client.post("/api/visits", json={"visits": []}, headers={"X-CSRFToken": token,
                                                                       "Origin": "https://evil.example"})
    assert response.status_code == 403 and "error" in response.get_json()


def test_a_request_from_this_site_passes_the_origin_check(auth, client, db, world):
    auth.login("boss")
    member = world["members"]["own"]
    token = auth.csrf_token("/accounts/")
    response = client.post(f"/accounts/{member}/disable", data={"csrf_token": token},
                           headers={"Origin": "http://localhost", "Referer": "http://localhost/accounts/"})
    assert response.status_code in (302, 303)
    assert database.scalar(db, "SELECT active FROM users WHERE id = ?", [member]) == 0


def test_a_forged_form_without_a_session_is_not_offered_for_resending(app, auth, client, db, world):
    """A cross-site POST that carries no Origin (or whose browser hides it) and no session: said plainly, not re-armed."""
    member = world["members"]["own"]
    auth.login("boss")
    client.delete_cookie("session")  # SameSite=Lax: the forged POST arrives without the session cookie
    response = client.post(f"/accounts/{member}/disable", data={"note": "=attacker's text", "csrf_token": "forged"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "表单未发送" in body and "重新提交" not in body and "attacker" not in body
    assert 'name="csrf_token"' not in body.split("<main", 1)[-1]


def test_a_stale_form_of_this_session_is_offered_again(app, auth, client, world, monkeypatch):
    auth.login("m1")
    token = auth.csrf_token("/households/")
    monkeypatch.setitem(app.config, "WTF_CSRF_TIME_LIMIT", -1)  # every token is now too old
    response = client.post("/auth/logout", data={"note": "楼道灯坏了", "csrf_token": token},
                           headers={"Sec-Fetch-Site": "same-origin"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "楼道灯坏了" in body and "重新提交" in body


def test_a_token_of_another_session_is_not_offered_again(app, auth, client, world, monkeypatch):
    other = app.test_client()
    from tests.conftest import AuthActions

    AuthActions(other).login("m2")
    foreign = AuthActions(other).csrf_token("/households/")
    auth.login("m1")
    response = client.post("/auth/logout", data={"note": "楼道灯坏了", "csrf_token": foreign},
                           headers={"Sec-Fetch-Site": "same-origin"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "楼道灯坏了" not in body and "重新提交" not in body


# --- The throttle keeps the owner in ----------------------------------------------------------------------------

def _sign_in_from(app, username, password, address, device_client=None):
    """Try to sign in from address with a client (a new device unless given); return the answer's status."""
    from tests.conftest import AuthActions

    client = device_client or app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return AuthActions(client).login(username, password).status_code


def test_strangers_failures_never_lock_out_the_owners_phone(app, auth, client, world):
    assert auth.login("m1").status_code == 302  # the owner's phone has signed in before: a known device
    auth.logout()
    for n in range(30):  # a guesser on many addresses and devices
        _sign_in_from(app, "m1", "wrong password", f"10.0.{n}.1")
    assert _sign_in_from(app, "m1", factories.PASSWORD, "10.9.9.9") == 429  # a new device waits now
    assert auth.login("m1").status_code == 302  # the owner does not


def test_five_failures_hold_one_address_not_the_account(app, world):
    for _ in range(5):
        assert _sign_in_from(app, "m1", "wrong password", "10.1.1.1") == 401
    assert _sign_in_from(app, "m1", factories.PASSWORD, "10.1.1.1") == 429
    assert _sign_in_from(app, "m1", factories.PASSWORD, "10.2.2.2") == 302


def test_a_known_device_waits_after_its_own_five_failures(app, auth, client, world):
    assert auth.login("m1").status_code == 302
    auth.logout()
    for _ in range(5):
        assert auth.login("m1", "wrong password").status_code == 401
    assert auth.login("m1").status_code == 429


def test_an_admins_reset_lets_the_account_in_again_and_forgets_its_devices(app, auth, client, db, world):
    from tests.conftest import AuthActions

    for n in range(25):
        _sign_in_from(app, "m1", "wrong password", f"10.3.{n}.1")
    assert _sign_in_from(app, "m1", factories.PASSWORD, "10.4.4.4") == 429
    auth.login("boss")
    client.post(f"/accounts/{world['members']['own']}/reset-password", data={"csrf_token": auth.csrf_token("/accounts/")})
    assert database.scalar(db, "SELECT count(*) FROM known_devices WHERE username = 'm1'") == 0
    temporary = app.test_client()
    temporary.environ_base["REMOTE_ADDR"] = "10.4.4.4"
    assert AuthActions(temporary).login("m1", "not the password").status_code == 401  # counting starts afresh


def test_the_password_form_is_throttled_like_sign_in(auth, client, db, world):
    auth.login("m1")
    token = auth.csrf_token("/accounts/password")
    for _ in range(5):
        response = client.post("/accounts/password", data={"csrf_token": token, "current": "guess",
                                                           "new": "a brand new password", "again": "a brand new password"})
        assert response.status_code == 422
    response = client.post("/accounts/password", data={"csrf_token": token, "current": factories.PASSWORD,
                                                       "new": "a brand new password", "again": "a brand new password"})
    assert response.status_code == 429 and "分钟后再试" in response.get_data(as_text=True)
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'password_failed'") == 5
    assert database.scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'password_throttled'") == 1
    assert _sign_in_from(client.application, "m1", factories.PASSWORD, "10.6.6.6") == 302  # unchanged


# --- Characters no database stores ----------------------------------------------------------------------------

def test_a_nul_character_in_json_or_a_form_is_refused_naming_where_and_nothing_is_stored(auth, client, db, world):
    auth.login("m1")
    token = client.get("/api/session").get_json()["csrf_token"]
    household = world["households"]["own"]
    visit = {"uuid": "nul-1", "household_id": household, "visited_at": "2026-11-01T02:00:00Z", "outcome": "met",
             "notes": "门口\u0000留言", "location": None, "no_location_reason": "indoors"}
    answer = client.post("/api/visits", json={"visits": [visit]}, headers={"X-CSRFToken": token, "Accept-Language": "en"})
    assert answer.status_code == 400 and "“JSON” holds a NUL character" in answer.get_json()["error"]
    page = client.post(f"/ledger/{world['requests']['own']}?lang=en", data={"csrf_token": token, "note": "a\x00b"})
    assert page.status_code == 400 and "“note” holds a NUL character" in page.get_data(as_text=True)
    assert database.scalar(db, "SELECT count(*) FROM visits") == 0
    assert database.scalar(db, "SELECT count(*) FROM request_events WHERE note LIKE 'a%'") == 0
