"""Fixtures in the style of flaskr: an app on a temporary database, a client, and sign-in helpers."""
import itertools
import shutil

import pytest

from fieldapp import create_app
from fieldapp.data import db as database
from tests import engines, factories


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Hash with cheap argon2 parameters in tests, so that sign-ins do not dominate the suite."""
    from fieldapp import auth

    monkeypatch.setattr(auth, "hasher", factories.FAST_HASHER)


@pytest.fixture
def db_dir(tmp_path):
    """A folder for files of a test (databases, backups)."""
    path = engines.scratch_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def engine():
    """The run's databases: SQLite files, or a throwaway PostgreSQL cluster (FIELDAPP_TEST_ENGINE=postgresql)."""
    made = engines.start()
    yield made
    made.stop()


@pytest.fixture(scope="session")
def migrated_template(engine):
    """A database with every migration applied, cloned for each test (migrating takes longer)."""
    return engines.template(engine, "fieldapp_template")


@pytest.fixture(scope="session")
def shared_app(migrated_template):
    """One app for the whole session: building its URL map anew for every test costs more than the test."""
    return create_app({"TESTING": True, "DATABASE": migrated_template, "SECRET_KEY": "test secret key"})


_STORES = itertools.count()


@pytest.fixture(scope="session")
def photo_folders(tmp_path_factory):
    """Where each test's photo store goes (made when its first photo is kept)."""
    return tmp_path_factory.mktemp("photos")


@pytest.fixture
def app(shared_app, engine, migrated_template, photo_folders):
    """The app on a fresh, migrated database (and an empty photo store) of its own; configuration changes end
    with the test."""
    target = engine.fresh(migrated_template)
    saved = dict(shared_app.config)
    shared_app.config["DATABASE"] = target
    shared_app.config["PHOTOS"] = str(photo_folders / f"store-{next(_STORES)}")
    yield shared_app
    shared_app.config.clear()
    shared_app.config.update(saved)
    engine.drop(target)


@pytest.fixture
def db(app):
    """A connection to the app's database, for arranging and checking data."""
    conn = database.connect(app.config["DATABASE"])
    yield conn
    conn.close()


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
