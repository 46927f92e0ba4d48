"""The app factory: configuration order, the secret key, the SQLite version check."""
import pytest

from fieldapp import create_app
from fieldapp.data import db as database


def test_test_config_overrides_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FIELDAPP_TILES", "osm")
    monkeypatch.setenv("FIELDAPP_LOCATION_MAX_DISTANCE_M", "200")
    app = create_app({"DATABASE": str(tmp_path / "a.db"), "SECRET_KEY": "x", "TILES": "gaode"})
    assert app.config["TILES"] == "gaode"
    assert app.config["LOCATION_MAX_DISTANCE_M"] == 200
    assert app.config["TIMEZONE"] == "Asia/Shanghai"


def test_database_from_environment(monkeypatch, tmp_path):
    path = tmp_path / "env.db"
    monkeypatch.setenv("FIELDAPP_DATABASE", str(path))
    app = create_app({"SECRET_KEY": "x"})
    assert app.config["DATABASE"] == str(path)
    assert path.exists()


def test_secret_key_generated_once_and_kept(tmp_path, monkeypatch):
    import fieldapp

    key_a = fieldapp._secret_key(str(tmp_path))
    key_b = fieldapp._secret_key(str(tmp_path))
    assert key_a == key_b and len(key_a) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_sqlite_version_check_refuses_old_sqlite():
    with pytest.raises(database.SQLiteTooOld, match="3.51.2 is too old"):
        database.check_sqlite_version((3, 51, 2))
    database.check_sqlite_version((3, 53, 0))


def test_running_sqlite_is_recent_enough():
    from sqlite_utils.utils import sqlite3

    assert sqlite3.sqlite_version_info >= database.MIN_SQLITE
    # The bundled SQLite of pysqlite3, not the system's.
    assert sqlite3.__name__.startswith("pysqlite3")


def test_app_refuses_to_start_on_old_sqlite(monkeypatch, tmp_path):
    from sqlite_utils.utils import sqlite3

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 45, 1))
    with pytest.raises(database.SQLiteTooOld):
        create_app({"DATABASE": str(tmp_path / "old.db"), "SECRET_KEY": "x"})


def test_a_kept_connection_sees_other_writers_and_never_hands_on_a_transaction(app, db):
    """Each server thread keeps its connection across requests: a request left inside a transaction is rolled
    back at its end (nothing half-written, the write lock free), and the next request sees what others wrote."""
    from fieldapp import web

    with app.app_context():
        kept = web.get_db()
        kept.conn.execute("BEGIN IMMEDIATE")
        kept.execute("INSERT INTO settings (key, value) VALUES ('half_written', '1')")
    assert database.scalar(db, "SELECT count(*) FROM settings WHERE key = 'half_written'") == 0
    with database.write(db):  # the write lock was given back: this does not wait for busy_timeout
        db.execute("INSERT INTO settings (key, value) VALUES ('from_elsewhere', '2')")
    with app.app_context():
        again = web.get_db()
        assert again is kept
        assert database.scalar(again, "SELECT value FROM settings WHERE key = 'from_elsewhere'") == "2"
