"""The app factory: configuration order, the secret key, the SQLite version check, a database it cannot reach."""
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from fieldapp import __main__ as cli
from fieldapp import create_app
from fieldapp.config import ROOT
from fieldapp.data import db as database
from tests import engines

# Nothing listens on port 1: the connection is refused at once, with or without a PostgreSQL server in the run.
UNREACHABLE = "postgresql://fieldapp:secret@127.0.0.1:1/fieldapp"
WHY = "PostgreSQL at 127.0.0.1:1/fieldapp cannot be reached: Connection refused"


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


@pytest.mark.skipif(not engines.POSTGRES, reason="PostgreSQL only: run with FIELDAPP_TEST_ENGINE=postgresql")
def test_the_sqlite_version_check_is_for_sqlite_alone(monkeypatch, app):
    from sqlite_utils.utils import sqlite3

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 45, 1))
    started = create_app({"DATABASE": app.config["DATABASE"], "SECRET_KEY": "x"})
    assert started.config["DATABASE"] == app.config["DATABASE"]


def test_app_refuses_to_start_on_a_postgresql_server_it_cannot_reach():
    with pytest.raises(database.Unreachable) as refused:
        create_app({"DATABASE": UNREACHABLE, "SECRET_KEY": "x"})
    assert str(refused.value).startswith(WHY)
    assert "\n" not in str(refused.value) and "secret" not in str(refused.value)


def test_fieldapp_commands_say_in_one_line_that_the_database_cannot_be_reached():
    refused = CliRunner().invoke(cli.main, ["init-db"], env={"FIELDAPP_DATABASE": UNREACHABLE})
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [refused.output.strip()]
    assert refused.output.startswith(f"Error: {WHY}")
    helped = CliRunner().invoke(cli.main, ["--help"], env={"FIELDAPP_DATABASE": UNREACHABLE})
    assert helped.exit_code == 0 and "Traceback" not in helped.output
    assert f"Error: {WHY}" in helped.output and "restore" in helped.output  # what needs no app is still listed


def test_gunicorn_refuses_to_start_with_one_line():
    env = {**os.environ, "FIELDAPP_DATABASE": UNREACHABLE, "PORT": "0"}
    started = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "fieldapp:create_app()"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert "Traceback" not in started.stderr
    assert [line for line in started.stderr.splitlines() if line.strip()][-1].startswith(f"Error: {WHY}")



def _blueprint_registrations():
    """Each call of register_blueprint in fieldapp: its file, its function and whether a loop makes it."""
    import ast
    from pathlib import Path

    import fieldapp

    found = []
    for path in sorted(Path(fieldapp.__file__).parent.rglob("*.py")):
        for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(function, ast.FunctionDef):
                continue
            looped = {id(node) for loop in ast.walk(function) if isinstance(loop, ast.For) for node in ast.walk(loop)}
            found += [(path.name, function.name, id(node) in looped) for node in ast.walk(function)
                      if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "register_blueprint"]
    return found


def test_create_app_alone_registers_the_blueprints_in_one_loop():
    assert _blueprint_registrations() == [("__init__.py", "create_app", True)]


def test_every_blueprint_of_the_package_is_in_the_list(app):
    import sys

    from flask import Blueprint

    import fieldapp

    defined = {module.bp for name, module in sys.modules.items()
               if name.startswith("fieldapp") and isinstance(getattr(module, "bp", None), Blueprint)}
    assert defined == set(fieldapp.BLUEPRINTS) == set(app.blueprints.values())
