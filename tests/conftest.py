"""Fixtures in the style of flaskr: an app on a temporary database, a client, and sign-in helpers."""
import os
import shutil
import tempfile

import pytest

from fieldapp import create_app
from fieldapp.data import db as database
from tests import factories


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Hash with cheap argon2 parameters in tests, so that sign-ins do not dominate the suite."""
    from fieldapp import auth

    monkeypatch.setattr(auth, "hasher", factories.FAST_HASHER)


@pytest.fixture
def db_dir(tmp_path):
    """A folder for a test database: in memory-backed /dev/shm where there is one (fsync is free there)."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        path = tempfile.mkdtemp(prefix="fieldapp-test-", dir="/dev/shm")
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield str(tmp_path)


@pytest.fixture
def app(db_dir):
    """The app on a fresh, migrated database in a temporary folder."""
    app = create_app({
        "TESTING": True,
        "DATABASE": os.path.join(db_dir, "test.db"),
        "SECRET_KEY": "test secret key",
    })
    yield app


@pytest.fixture
def db(app):
    """A connection to the app's database, for arranging and checking data."""
    conn = database.connect(app.config["DATABASE"])
    yield conn
    conn.conn.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Sign in and out through the real form, CSRF token included."""

    def __init__(self, client):
        self._client = client

    def csrf_token(self, path="/auth/login"):
        page = self._client.get(path, follow_redirects=True).get_data(as_text=True)
        marker = 'name="csrf-token" content="'
        start = page.index(marker) + len(marker)
        return page[start:page.index('"', start)]

    def login(self, username, password=factories.PASSWORD, remember=False, follow=False):
        data = {"username": username, "password": password, "csrf_token": self.csrf_token()}
        if remember:
            data["remember"] = "1"
        return self._client.post("/auth/login", data=data, follow_redirects=follow)

    def logout(self):
        return self._client.post("/auth/logout", data={"csrf_token": self.csrf_token("/")},
                                 follow_redirects=True)


@pytest.fixture
def auth(client):
    return AuthActions(client)
