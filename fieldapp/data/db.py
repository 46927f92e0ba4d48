"""The database connection of either engine (a SQLite file, the embedded default, or a `postgresql://` URL),
its write transactions and the few helpers every query goes through.

SQLite: the version check, the pragmas and one connection kept per thread. PostgreSQL (data/postgres.py): a pool
per process. Both connections answer the same methods (execute, query, executemany, in_transaction, close) and
carry their engine's SQL words as `dialect` (data/dialect.py).
"""
import contextlib
import os

import sqlite_utils
from sqlite_utils.utils import dedupe_keys, sqlite3

from fieldapp.data import postgres
from fieldapp.data.dialect import SQLITE
from fieldapp.data.migrations import migrations
from fieldapp.data.statements import in_clause, insert, insert_many, one, rows, scalar, upsert_sql, write  # noqa: F401

# What a query can raise on either engine: any database error, and a broken constraint.
DatabaseError = (sqlite3.DatabaseError, postgres.DatabaseError)
IntegrityError = (sqlite3.IntegrityError, postgres.IntegrityError)
Unreachable = postgres.Unreachable

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


class SQLiteDatabase(sqlite_utils.Database):
    """A SQLite connection (sqlite-utils' Database) with the methods both engines' connections answer."""

    dialect = SQLITE

    def query(self, sql, params=None):
        """The rows of a read as dicts (duplicate column names renamed as sqlite-utils does). Without sqlite-utils'
        SAVEPOINT and RELEASE around each statement: the data layer reads with rows/one and writes with execute,
        so that guard cost two more statements per read."""
        cursor = self.conn.execute(sql, () if params is None else params)
        if cursor.description is None:
            raise ValueError("query() reads rows; write with execute()")
        keys = dedupe_keys(column[0] for column in cursor.description)
        return (dict(zip(keys, row)) for row in cursor)

    def executemany(self, sql, seq):
        self.conn.executemany(sql, seq)

    def executescript(self, sql):
        """Run several statements inside the current transaction (sqlite3's own executescript commits first)."""
        statement = ""
        for line in sql.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                self.conn.execute(statement)
                statement = ""
        if statement.strip():
            self.conn.execute(statement)

    def copy(self, table, columns, rows):
        """Load rows (tuples in the order of columns): one prepared INSERT run for each."""
        marks = ", ".join("?" * len(columns))
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def upsert(self, table, columns, rows, *, key, keep=()):
        """Insert the dicts rows (their columns), or update the row with the same key (but not its columns keep)."""
        values = f"VALUES ({', '.join(':' + c for c in columns)})"
        self.conn.executemany(upsert_sql(table, columns, key, keep, values), [{c: r[c] for c in columns} for r in rows])

    def reserve_ids(self, table, count):
        """The first of count consecutive free ids of table, for rows inserted with them in this transaction
        (under BEGIN IMMEDIATE nobody else inserts meanwhile)."""
        return (self.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0) + 1

    def ids_given(self, table):
        """Rows were inserted into table with ids of their own: nothing to catch up (SQLite takes max + 1)."""

    @contextlib.contextmanager
    def bulk(self):
        """One fast write transaction for generated rows: no fsync, a large cache, no per-row constraint checks."""
        # The generated rows are made to fit the schema, and tests/test_demo.py proves it with integrity_check
        # and foreign_key_check. Checked row by row, the IN-list CHECKs and the foreign keys add about two
        # thirds to the time it takes to insert a million visits.
        pragmas = ("synchronous", "cache_size", "foreign_keys", "ignore_check_constraints")
        saved = {name: self.execute(f"PRAGMA {name}").fetchone()[0] for name in pragmas}
        for name, value in zip(pragmas, ("OFF", -262_144, "OFF", "ON")):
            self.execute(f"PRAGMA {name} = {value}")
        try:
            with write(self):
                yield self
            self.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            for name, value in saved.items():
                self.execute(f"PRAGMA {name} = {int(value)}")

    def load(self, table, columns, rows):
        """Insert many rows (tuples in the order of columns), building the table's indexes afterwards: building
        an index once is much faster than keeping it up to date through a million inserts."""
        indexes = self.execute("SELECT name, sql FROM sqlite_master "
                               "WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table]).fetchall()
        for name, _sql in indexes:
            self.execute(f"DROP INDEX {name}")
        self.copy(table, columns, rows)
        for _name, sql in indexes:
            self.execute(sql)

    @property
    def in_transaction(self):
        return self.conn.in_transaction

    def begin(self):
        # A deferred transaction that later upgrades to a write fails at once under contention (SQLITE_BUSY
        # without waiting); BEGIN IMMEDIATE waits for busy_timeout instead.
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self):
        self.conn.execute("COMMIT")

    def rollback(self):
        self.conn.rollback()


def is_postgres(target):
    """Whether the database setting is a PostgreSQL URL (else it is a SQLite file path)."""
    return postgres.is_url(target)


def connect(target, *, migrate=False):
    """Open the database target (a SQLite path or a PostgreSQL URL) on its own connection; apply pending
    migrations if asked."""
    if is_postgres(target):
        db = postgres.connect(target)
        if migrate:
            migrations.apply(db)
        return db
    path = target
    check_sqlite_version()
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # isolation_level None: no transaction opened behind the app's back; data.db.write opens the one a write needs.
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
    db = SQLiteDatabase(conn)
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


def request_connection(store, target):
    """The connection a request uses: from this process's pool for PostgreSQL (handed back by release), else
    the thread's own SQLite connection kept in store (see kept)."""
    if is_postgres(target):
        return postgres.pooled(target, os.getpid())
    return kept(store, target)


def release(db):
    """Hand a request's connection back: never inside a transaction; a pooled one returns to its pool."""
    try:
        if db.in_transaction:
            db.rollback()
    except postgres.Error:  # the server went away with the transaction: the pool drops the broken connection
        pass
    finally:
        if db.dialect is not SQLITE:
            db.close()


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
