"""Sign-in, sign-out, remember-me, disabled accounts, CSRF and each role's landing page."""
import pytest

from fieldapp.data import db as database
from fieldapp.data import users
from tests import factories


@pytest.fixture
def accounts(db):
    grid_id = factories.make_grid(db)
    return {
        "member": factories.make_user(db, "member", "mem"),
        "leader": factories.make_user(db, "leader", "lead", grid_id=grid_id),
        "admin": factories.make_user(db, "admin", "boss"),
    }


def test_login_page_renders(client):
    response = client.get("/auth/login")
    assert response.status_code == 200
    assert "登录" in response.get_data(as_text=True)


@pytest.mark.parametrize("username, landing", [("mem", "/households/"), ("lead", "/coverage/"), ("boss", "/admin/")])
def test_each_role_lands_on_its_page(auth, client, accounts, username, landing):
    response = auth.login(username)
    assert response.status_code == 302
    assert client.get("/").headers["Location"] == landing
    assert client.get(landing).status_code == 200


@pytest.mark.parametrize("username, password", [("mem", "wrong password"), ("nobody", factories.PASSWORD), ("", "")])
def test_bad_credentials_get_one_neutral_message(auth, client, accounts, username, password):
    response = auth.login(username, password)
    body = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "用户名或密码错误，或账号已停用。" in body
    assert client.get("/households/").status_code == 302  # still signed out


def test_failed_sign_in_is_audited_and_keeps_the_username(auth, db, accounts):
    body = auth.login("mem", "wrong password").get_data(as_text=True)
    assert 'value="mem"' in body
    row = database.one(db, "SELECT action, user_id FROM audit_log ORDER BY id DESC LIMIT 1")
    assert row == {"action": "login_failed", "user_id": accounts["member"]}


def test_disabled_user_is_refused_and_their_session_ends(auth, client, db, accounts):
    auth.login("mem")
    assert client.get("/households/").status_code == 200
    users.set_active(db, accounts["member"], False)
    response = client.get("/households/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert auth.login("mem").status_code == 401


def test_logout_ends_the_session(auth, client, accounts):
    auth.login("mem")
    response = auth.logout()
    assert "您已退出登录。" in response.get_data(as_text=True)
    assert client.get("/households/").status_code == 302


def test_logout_needs_post(auth, client, accounts):
    auth.login("mem")
    assert client.get("/auth/logout").status_code == 405


def test_remember_me_sets_a_30_day_cookie(auth, accounts):
    response = auth.login("mem", remember=True)
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("remember_token="))
    assert "Expires=" in cookie and "HttpOnly" in cookie


def test_remember_me_signs_in_again_after_the_session_cookie_is_gone(app, auth, client, accounts):
    auth.login("mem", remember=True)
    client.delete_cookie("session")
    assert client.get("/households/").status_code == 200


def test_without_remember_me_no_remember_cookie(auth, accounts):
    response = auth.login("mem")
    assert not any(v.startswith("remember_token=") for v in response.headers.getlist("Set-Cookie"))


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get("/households/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")


# Known ways past a naive "starts with one slash" check: browsers drop tabs and newlines, read "\\" as "/",
# and some proxies or frameworks decode twice.
OFF_SITE = ["//evil.example/x", "/%09/evil.example", "/%0a/evil.example", "/%0d/evil.example", "/\\evil.example",
            "/%5Cevil.example", "/%5cevil.example", "%2F%2Fevil.example", "/%2F/evil.example", "/%252F/evil.example",
            "/%25252F%25252Fevil.example", "/%7F/evil.example", "/%20/evil.example",
            "/%E3%80%80/evil.example", "https://evil.example/", "https:evil.example", "javascript:alert(1)",
            "//%09evil.example", "/\t/evil.example", "///evil.example", "evil.example", ""]


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_is_followed_only_on_this_site(auth, client, accounts, target):
    token = auth.csrf_token()
    data = {"username": "mem", "password": factories.PASSWORD, "csrf_token": token}
    response = client.post(f"/auth/login?next={target}", data=data)
    assert response.headers["Location"] == "/"


def test_a_next_with_a_nul_character_is_refused_naming_it(auth, client, accounts):
    token = auth.csrf_token()
    data = {"username": "mem", "password": factories.PASSWORD, "csrf_token": token}
    response = client.post("/auth/login?next=/%00/evil.example&lang=en", data=data)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "“next” holds a NUL character" in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["/households/", "/ledger/?status=open&page=2", "/households/7"])
def test_next_on_this_site_is_followed(auth, client, accounts, target):
    token = auth.csrf_token()
    data = {"username": "mem", "password": factories.PASSWORD, "csrf_token": token}
    response = client.post("/auth/login", query_string={"next": target}, data=data)
    assert response.headers["Location"] == target


@pytest.mark.parametrize("role, path", [("member", "/admin/"), ("leader", "/admin/")])
def test_roles_may_not_open_other_roles_pages(auth, client, accounts, role, path):
    auth.login({"member": "mem", "leader": "lead"}[role])
    assert client.get(path).status_code == 403


def test_missing_csrf_token_keeps_the_form(client, accounts):
    response = client.post("/auth/login", data={"username": "mem", "password": factories.PASSWORD})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "表单已过期" in body
    assert 'value="mem"' in body
    assert client.get("/households/").status_code == 302


def test_create_user_command(runner, db):
    result = runner.invoke(args=["create-user", "chief", "--role", "admin", "--password", "a long password"])
    assert result.exit_code == 0, result.output
    row = users.by_username(db, "chief")
    assert row["role"] == "admin" and row["password_hash"].startswith("$argon2id$")
    again = runner.invoke(args=["create-user", "chief", "--password", "a long password"])
    assert again.exit_code != 0 and "exists already" in again.output
    short = runner.invoke(args=["create-user", "other", "--password", "short"])
    assert short.exit_code != 0 and "at least 10" in short.output
