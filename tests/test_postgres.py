"""PostgreSQL in operation: commits on disk before they are acknowledged, connections lost between and during
requests, a database refused in one line, the commands that name or rebuild the database."""
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from fieldapp import offline
from fieldapp.data import db as database
from fieldapp.data import households, postgres, users
from fieldapp.db import close_db, get_db
from tests import engines, factories

pytestmark = pytest.mark.skipif(not engines.POSTGRES, reason="PostgreSQL only: run with FIELDAPP_TEST_ENGINE=postgresql")

UNAVAILABLE_ZH = "暂时无法连接数据库。您提交的内容没有被部分保存，请稍后再试。"


def _with_password(url, password):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.replace("@", f":{password}@", 1)))


def _terminate(db, pid=None):
    """End the backends of the app's database other than db's own (or only pid), waiting until they are gone; how
    many were ended."""
    where = "pid = ?" if pid else "datname = current_database() AND pid <> pg_backend_pid()"
    return database.scalar(db, f"SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                               f"FROM pg_stat_activity WHERE {where}", [pid] if pid else [])


def _dying(monkeypatch, module, name, killer):
    """Make module.name end its connection's backend first, as if the server went away in the middle of a
    request."""
    original = getattr(module, name)

    def dying(db, *args, **kwargs):
        _terminate(killer, db.conn.info.backend_pid)
        return original(db, *args, **kwargs)

    monkeypatch.setattr(module, name, dying)


@pytest.fixture
def member(db, auth):
    """A signed-in member with one household."""
    cell = factories.make_cell(db)
    user = factories.make_user(db, "member", "m1")
    factories.assign(db, cell, user)
    factories.make_household(db, cell, address="望江路 1号")
    auth.login("m1")
    return user


def test_connections_commit_synchronously_whatever_the_database_default(app, db):
    name = app.config["DATABASE"].rsplit("/", 1)[1]
    db.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    with psycopg.connect(app.config["DATABASE"]) as bare:  # a session of the database's default
        assert bare.execute("SHOW synchronous_commit").fetchone()[0] == "off"
    with app.app_context():
        assert database.scalar(get_db(), "SHOW synchronous_commit") == "on"  # the pool's connection
    own = database.connect(app.config["DATABASE"])
    assert database.scalar(own, "SHOW synchronous_commit") == "on"
    own.close()


def test_a_database_that_does_not_exist_is_refused_in_one_line(app):
    missing = app.config["DATABASE"].rsplit("/", 1)[0] + "/nosuchdb"
    host = urlsplit(missing)
    with pytest.raises(database.Unreachable) as refused:
        database.connect(missing)
    assert str(refused.value) == (f'PostgreSQL at {host.hostname}:{host.port}/nosuchdb refused the connection: '
                                  'database "nosuchdb" does not exist')


def test_connections_ended_between_requests_are_replaced_by_the_pool(client, member, db):
    assert client.get("/households/").status_code == 200
    assert _terminate(db) >= 1  # the pool's connection, idle between requests
    page = client.get("/households/")
    assert page.status_code == 200 and "望江路 1号" in page.get_data(as_text=True)


def test_a_connection_lost_mid_request_answers_the_503_page_and_the_next_request_works(client, member, db,
                                                                                    monkeypatch):
    with monkeypatch.context() as patched:
        _dying(patched, households, "with_status", db)
        page = client.get("/households/")
    text = page.get_data(as_text=True)
    assert page.status_code == 503 and UNAVAILABLE_ZH in text and "Traceback" not in text
    assert 'href="/households/"' in text  # the whole error page, the member's navigation in it
    again = client.get("/households/")
    assert again.status_code == 200 and "望江路 1号" in again.get_data(as_text=True)


def test_a_connection_lost_mid_request_answers_json_to_the_api(client, member, db, monkeypatch):
    with monkeypatch.context() as patched:
        _dying(patched, offline, "make_copy", db)
        answer = client.get("/api/offline-manifest", headers={"Accept-Language": "en"})
    assert answer.status_code == 503
    assert answer.get_json() == {"error": "The database cannot be reached just now. Nothing you sent was "
                                          "half-saved; please try again in a moment."}
    assert client.get("/api/offline-manifest").status_code == 200


def test_a_connection_lost_before_the_user_is_known_answers_a_bare_503_page(client, member, db, monkeypatch):
    with monkeypatch.context() as patched:
        _dying(patched, users, "get", db)  # the session's user is loaded first
        page = client.get("/households/")
    text = page.get_data(as_text=True)
    assert page.status_code == 503 and UNAVAILABLE_ZH in text and "Traceback" not in text
    assert 'lang="zh-CN"' in text and "/static/css/app.css" in text
    assert client.get("/households/").status_code == 200


def test_a_pool_that_gives_no_connection_answers_503_without_waiting_again(client, member, monkeypatch):
    asked = []

    def exhausted(store, target):
        asked.append(target)
        raise postgres.Unreachable("PostgreSQL at db:5432/fieldapp gave no connection in 15 s")

    monkeypatch.setattr(database, "request_connection", exhausted)
    page = client.get("/households/")
    assert page.status_code == 503 and UNAVAILABLE_ZH in page.get_data(as_text=True)
    assert len(asked) == 1  # the error page did not ask the pool again
    answer = client.get("/api/offline-manifest")
    assert answer.status_code == 503 and answer.get_json()["error"]


def test_init_db_names_the_database_without_its_password(app, runner):
    url = app.config["DATABASE"]
    app.config["DATABASE"] = _with_password(url, "hunter2")  # the test server trusts any password
    done = runner.invoke(args=["init-db"])
    assert done.exit_code == 0, done.output
    assert done.output == f"Database {url}: 0 migration(s) applied, schema up to date.\n"


def test_demo_replace_rebuilds_the_schema_with_its_collation(app, runner, db):
    app.config["DATABASE"] = _with_password(app.config["DATABASE"], "hunter2")
    assert runner.invoke(args=["demo", "--households", "40", "--seed", "1"]).exit_code == 0
    db.execute("CREATE TABLE leftover (x INTEGER)")
    refused = runner.invoke(args=["demo", "--households", "40", "--seed", "1"])
    assert refused.exit_code == 1 and "pass --replace" in refused.output and "hunter2" not in refused.output
    db.close()
    rebuilt = runner.invoke(args=["demo", "--households", "40", "--seed", "1", "--replace"])
    assert rebuilt.exit_code == 0, rebuilt.output
    check = database.connect(app.config["DATABASE"])
    assert database.scalar(check, "SELECT count(*) FROM households") == 40
    assert "leftover" not in check.table_names() and database.pending_migrations(check) == []
    assert database.scalar(check, "SELECT count(*) FROM users WHERE username = 'ADMIN'") == 1  # nocase again
    check.close()


def test_a_connection_lost_inside_a_transaction_is_handed_back_without_an_error(app, db):
    """The server goes away while a request holds a transaction it has not touched since: handing the connection
    back must not raise (that would end the request in the server's bare 500), and the pool replaces it."""
    with app.app_context():
        held = get_db()
        held.begin()
        assert _terminate(db, held.conn.info.backend_pid) == 1
        close_db()
    with app.app_context():
        assert database.scalar(get_db(), "SELECT count(*) FROM categories") == 9
