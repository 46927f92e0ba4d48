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


def _scratch_dir(fallback):
    """A new folder in memory-backed /dev/shm where there is one (fsync is free there)."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        return tempfile.mkdtemp(prefix="fieldapp-test-", dir="/dev/shm")
    return tempfile.mkdtemp(prefix="fieldapp-test-", dir=fallback)


@pytest.fixture
def db_dir(tmp_path):
    """A folder for a test database."""
    path = _scratch_dir(str(tmp_path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory):
    """A database file with every migration applied, copied for each test (migrating takes longer)."""
    folder = _scratch_dir(str(tmp_path_factory.mktemp("template")))
    path = os.path.join(folder, "template.db")
    db = database.connect(path, migrate=True)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    yield path
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_app(migrated_template):
    """One app for the whole session: building its URL map anew for every test costs more than the test."""
    return create_app({"TESTING": True, "DATABASE": migrated_template, "SECRET_KEY": "test secret key"})


@pytest.fixture
def app(shared_app, migrated_template, db_dir):
    """The app on a fresh, migrated database of its own; configuration changes end with the test."""
    path = os.path.join(db_dir, "test.db")
    shutil.copy(migrated_template, path)
    saved = dict(shared_app.config)
    shared_app.config["DATABASE"] = path
    yield shared_app
    shared_app.config.clear()
    shared_app.config.update(saved)


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
