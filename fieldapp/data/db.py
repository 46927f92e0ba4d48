"""The SQLite connection: version check, pragmas, migrations and write transactions."""
import contextlib
import os

import sqlite_utils
from sqlite_utils.utils import sqlite3

from fieldapp.data.migrations import migrations  # noqa: F401  (re-exported)

# SQLite up to 3.51.2 can corrupt a WAL database when the WAL is reset under concurrent writers;
# pysqlite3 >= 0.6.1 bundles a fixed SQLite (3.53) and sqlite-utils picks it up by itself.
MIN_SQLITE = (3, 51, 3)


class SQLiteTooOld(RuntimeError):
    """The SQLite library in use has a known corruption bug; the app refuses to run on it."""


def check_sqlite_version(version_info=None):
    """Raise SQLiteTooOld unless the SQLite library is recent enough."""
    version_info = version_info or sqlite3.sqlite_version_info
    if tuple(version_info) < MIN_SQLITE:
        found = ".".join(map(str, version_info))
        needed = ".".join(map(str, MIN_SQLITE))
        raise SQLiteTooOld(
            f"SQLite {found} is too old: Zero Distance needs SQLite {needed} or newer "
            f"(older versions can corrupt a WAL database). Install the project's dependencies "
            f"(pip install -e .), which bring pysqlite3 with a bundled SQLite {needed}+."
        )


def replicated():
    """Whether Litestream replicates the database (FIELDAPP_REPLICATED=1, set by `make replicate`)."""
    return os.environ.get("FIELDAPP_REPLICATED", "").strip().lower() in ("1", "true", "yes", "on")


def connect(path, *, migrate=False):
    """Open the database at path with the app's pragmas; apply pending migrations if asked."""
    check_sqlite_version()
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 10000")
    # A phone relies on a visit being on disk once it is acknowledged.
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA mmap_size = 0")
    if replicated():
        # Litestream copies WAL frames before it checkpoints them into the database; a checkpoint of the app's in
        # between can make it miss frames. Its advice (litestream.io/tips): leave checkpoints to it.
        db.execute("PRAGMA wal_autocheckpoint = 0")
    if migrate:
        migrations.apply(db)
    return db


def kept(store, path):
    """A connection to path kept in store (a thread's own) across requests, opened once per thread, process and
    database file: no pragmas and no open per request, and no checkpoint each time the last connection closes."""
    key = (os.getpid(), path, os.stat(path).st_ino if path != ":memory:" and os.path.exists(path) else None)
    found = getattr(store, "connections", None)
    if found is None:
        found = store.connections = {}
    db = found.get(key)
    if db is None:
        while len(found) >= 4:  # test suites open many databases from one thread: keep a few
            found.pop(next(iter(found))).conn.close()
        db = found[key] = connect(path)
    return db


def pending_migrations(db):
    """Names of the migrations not yet applied to db."""
    return [m.name for m in migrations.pending(db)]


@contextlib.contextmanager
def write(db):
    """Run a block as one write transaction that takes the write lock up front.

    A deferred transaction that later upgrades to a write fails at once under contention
    (SQLITE_BUSY without waiting); BEGIN IMMEDIATE waits for busy_timeout instead.
    """
    conn = db.conn
    if conn.in_transaction:  # nested: join the outer transaction
        yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def rows(db, sql, params=()):
    """Run a query and return its rows as plain dicts."""
    return list(db.query(sql, params))


def one(db, sql, params=()):
    """Run a query and return its first row as a dict, or None."""
    for row in db.query(sql, params):
        return row
    return None


def scalar(db, sql, params=()):
    """Run a query and return the first column of its first row, or None."""
    row = db.execute(sql, params).fetchone()
    return row[0] if row else None


def in_clause(column, ids, params, prefix):
    """SQL `column IN (:prefix0, ...)` for ids (None: no restriction), adding the values to params."""
    if ids is None:
        return "1"
    names = []
    for i, value in enumerate(ids):
        params[f"{prefix}{i}"] = value
        names.append(f":{prefix}{i}")
    return f"{column} IN ({', '.join(names) or 'NULL'})"
