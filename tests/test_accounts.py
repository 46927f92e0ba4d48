"""Accounts: create with a one-time password, disable (sessions end at once), reset, change one's own password."""
import re

import pytest

from fieldapp import accounts
from fieldapp.data import db as database
from tests import factories
from tests.conftest import AuthActions


@pytest.fixture
def world(db):
    """Admin `boss`, member `m1`, grid G1."""
    factories.make_user(db, "admin", "boss")
    member = factories.make_user(db, "member", "m1")
    grid = factories.make_grid(db, code="G1", name="第一网格")
    return {"member": member, "grid": grid}


def one_time_password(page):
    """The one-time password shown on the users page."""
    return re.search(r'id="one-time-password">([^<]+)<', page).group(1)


def test_password_rules():
    assert accounts.password_problems("short") != []
    assert accounts.password_problems("1234567890") != []
    assert accounts.password_problems("wang.xiuying-2026", "wang.xiuying") != []
    assert accounts.password_problems("翠苑三号楼二单元的钥匙") == []


def test_admin_creates_a_leader_who_must_choose_a_password_first(app, client, auth, db, world):
    auth.login("boss")
    token = auth.csrf_token("/accounts/new")
    page = client.post("/accounts/new?lang=en", data={"csrf_token": token, "username": "lead2", "display_name": "王网格长",
                                                      "role": "leader", "grid": str(world["grid"])}).get_data(as_text=True)
    password = one_time_password(page)
    assert len(password) == 12 and "One-time password for lead2" in page
    stored = database.one(db, "SELECT role, grid_id, must_change_password FROM users WHERE username = 'lead2'")
    assert stored == {"role": "leader", "grid_id": world["grid"], "must_change_password": 1}

    newcomer = app.test_client()
    AuthActions(newcomer).login("lead2", password)
    response = newcomer.get("/coverage/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/accounts/password")
    token = AuthActions(newcomer).csrf_token("/accounts/password")
    response = newcomer.post("/accounts/password?lang=en", data={"csrf_token": token, "current": password,
                                                                 "new": "qwertyuiop", "again": "qwertyuiop"})
    assert response.status_code == 422 and "Too easy to guess" in response.get_data(as_text=True)
    response = newcomer.post("/accounts/password", data={"csrf_token": token, "current": password,
                                                         "new": "翠苑三号楼二单元的钥匙", "again": "翠苑三号楼二单元的钥匙"})
    assert response.status_code == 303
    assert newcomer.get("/coverage/").status_code == 200
    assert database.scalar(db, "SELECT must_change_password FROM users WHERE username = 'lead2'") == 0


def test_a_leader_needs_a_grid(client, auth, world):
    auth.login("boss")
    token = auth.csrf_token("/accounts/new")
    response = client.post("/accounts/new?lang=en", data={"csrf_token": token, "username": "lead3", "role": "leader"})
    assert response.status_code == 422 and "A grid leader needs a grid." in response.get_data(as_text=True)


def test_a_disabled_user_is_refused_at_once(app, client, auth, db, world):
    member = app.test_client()
    AuthActions(member).login("m1", remember=True)
    assert member.get("/households/").status_code == 200
    auth.login("boss")
    page = client.get("/accounts/?lang=en").get_data(as_text=True)
    assert re.search(r'data-username="m1".*?<button type="submit">Disable</button>', page, re.S)
    client.post(f"/accounts/{world['member']}/disable", data={"csrf_token": auth.csrf_token("/accounts/")})
    response = member.get("/households/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert AuthActions(app.test_client()).login("m1").status_code == 401


def test_reset_password_ends_sessions_and_gives_a_one_time_password(app, client, auth, db, world):
    member = app.test_client()
    AuthActions(member).login("m1")
    auth.login("boss")
    page = client.post(f"/accounts/{world['member']}/reset-password",
                       data={"csrf_token": auth.csrf_token("/accounts/")}).get_data(as_text=True)
    password = one_time_password(page)
    assert member.get("/households/").status_code == 302
    again = app.test_client()
    assert AuthActions(again).login("m1").status_code == 401  # the old password no longer works
    AuthActions(again).login("m1", password)
    assert again.get("/households/").headers["Location"].endswith("/accounts/password")


def test_everyone_changes_their_own_password(app, client, auth, db, world):
    auth.login("m1")
    token = auth.csrf_token("/accounts/password")
    response = client.post("/accounts/password?lang=en", data={"csrf_token": token, "current": "wrong",
                                                               "new": "short", "again": "short"})
    body = response.get_data(as_text=True)
    assert "This is not your current password." in body and "At least 10 characters." in body
    response = client.post("/accounts/password", data={"csrf_token": token, "current": factories.PASSWORD,
                                                       "new": "翠苑三号楼二单元的钥匙", "again": "翠苑三号楼二单元的钥匙"})
    assert response.status_code == 303 and client.get("/households/").status_code == 200
    assert AuthActions(app.test_client()).login("m1").status_code == 401
    assert AuthActions(app.test_client()).login("m1", "翠苑三号楼二单元的钥匙").status_code == 302
