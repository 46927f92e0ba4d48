"""PostgreSQL's side of the data layer: connections (psycopg 3, pooled per process), the app's SQL placeholders,
and a clear refusal when the server cannot be reached.

The data functions write SQLite's placeholders (`?` and `:name`); `placeholders` turns them into psycopg's once per
statement text. Parameters are bound on the client (psycopg's ClientCursor, as psycopg2 did): a `:name` that is
None in one call and text in the next needs no cast, as on SQLite; a hot statement whose parameters' types the
server can tell is bound on the server and prepared instead (Database.execute's prepare). Connections are in
autocommit: a read is its own statement, and `data.db.write` opens the one transaction a write needs.
"""
import contextlib
import functools
import re
import select
import threading
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from fieldapp.data.dialect import POSTGRES
from fieldapp.data.statements import upsert_sql, write

Error = psycopg.Error
IntegrityError = psycopg.IntegrityError
DatabaseError = psycopg.DatabaseError
# A lost connection, a server shutting down or restarting, a statement cancelled: the request may be tried again.
OperationalError = psycopg.OperationalError


def is_url(target):
    """Whether the database setting names a PostgreSQL server rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class Unreachable(RuntimeError):
    """The PostgreSQL server named by the database URL cannot be reached or refuses the app."""


def describe(url):
    """Host, port and database of url without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost (socket)"
    return f"{host}:{parts.port or 5432}/{parts.path.lstrip('/') or '(default database)'}"


def shown(target):
    """The database setting as a message may show it: a PostgreSQL URL without its password, a file path as it is."""
    if not is_url(target):
        return target
    parts = urlsplit(target)
    user, at, hosts = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}{at}{hosts}"))


# `?` and `:name` (not `::type`) outside quoted strings, identifiers and comments; `%` anywhere.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|::|(?<![\w:]):([A-Za-z_]\w*)|\?|%")


@functools.lru_cache(maxsize=4096)
def placeholders(sql):
    """The statement sql with SQLite's placeholders written as psycopg's (`%s`, `%(name)s`) and `%` doubled."""
    def replace(match):
        token = match.group(0)
        if match.group(1):
            return f"%({match.group(1)})s"
        if token == "?":
            return "%s"
        return token.replace("%", "%%")  # psycopg reads `%` inside quotes and comments too
    return _TOKENS.sub(replace, sql)


class Cursor:
    """The few cursor methods the data layer uses, over a psycopg cursor."""

    def __init__(self, cursor):
        self._cursor = cursor

    def fetchone(self):
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self):
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self):
        return iter(self.fetchall())

    @property
    def rowcount(self):
        return self._cursor.rowcount


class Database:
    """A PostgreSQL connection with the methods the data layer calls on a SQLite one (sqlite-utils' Database)."""

    dialect = POSTGRES

    def __init__(self, conn, pool=None):
        self.conn = conn
        self._pool = pool

    def execute(self, sql, params=None, *, prepare=False):
        """Run a statement. prepare: bound on the server and prepared once per connection, so that it is planned
        once rather than each time: only for a statement whose parameters each stand where the server can tell
        their type (stored in a column, compared with one) and whose result columns no migration can change."""
        if not prepare:
            cursor = self.conn.cursor()
            cursor.execute(*_statement(sql, params))
            return Cursor(cursor)
        cursor = psycopg.Cursor(self.conn)
        cursor.execute(*_statement(sql, params), prepare=True)
        return Cursor(cursor)

    def executemany(self, sql, seq):
        with self.conn.cursor() as cursor:
            cursor.executemany(placeholders(sql), [_params(p) for p in seq])

    def executescript(self, sql):
        """Run several statements (no parameters) in one go."""
        self.conn.execute(sql)

    def query(self, sql, params=None):
        with self.conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(*_statement(sql, params))
            if cursor.description:
                yield from cursor.fetchall()

    def copy(self, table, columns, rows):
        """Load rows (tuples in the order of columns) with COPY: the fastest way into a table."""
        with self.conn.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def upsert(self, table, columns, rows, *, key, keep=()):
        """Insert the dicts rows (their columns), or update the row with the same key (but not its columns keep):
        COPY into a temporary table, then one INSERT ... SELECT."""
        staged = f"staged_{table}"
        self.conn.execute(f"CREATE TEMPORARY TABLE {staged} AS SELECT {', '.join(columns)} FROM {table} WITH NO DATA")
        self.copy(staged, columns, ([row[c] for c in columns] for row in rows))
        self.conn.execute(upsert_sql(table, columns, key, keep, f"SELECT {', '.join(columns)} FROM {staged}"))
        self.conn.execute(f"DROP TABLE {staged}")

    def reserve_ids(self, table, count):
        """The first of count consecutive free ids of table, for rows inserted with them in this transaction:
        other inserts into table wait until it ends."""
        self.conn.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        first = (self.conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0) + 1
        if count:
            self.conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, first + count - 1])
        return first

    def ids_given(self, table):
        """Rows were inserted into table with ids of their own: move its identity past them."""
        self.conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                          f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)", [table])

    @contextlib.contextmanager
    def bulk(self):
        """One write transaction for generated rows, committed without waiting for the disk (they can be made
        again), its tables analysed afterwards for the planner."""
        with write(self):
            self.conn.execute("SET LOCAL synchronous_commit = off")
            yield self
        self.conn.execute("ANALYZE")

    def load(self, table, columns, rows):
        """Insert many rows (tuples in the order of columns) with COPY."""
        self.copy(table, columns, rows)

    def table_names(self):
        return [r[0] for r in self.conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]

    @property
    def in_transaction(self):
        # UNKNOWN: the connection is lost, and its transaction with it; there is nothing left to roll back.
        return self.conn.info.transaction_status not in (TransactionStatus.IDLE, TransactionStatus.UNKNOWN)

    def begin(self):
        self.conn.execute("BEGIN")

    def commit(self):
        self.conn.execute("COMMIT")

    def rollback(self):
        self.conn.rollback()

    def close(self):
        """Hand the connection back to its pool (or close it when it has none)."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if self._pool is not None:
            self._pool.putconn(conn)
        else:
            conn.close()


def _params(params):
    """Parameters as psycopg takes them: a list for `?`, a dict for `:name`."""
    return params if isinstance(params, dict) else list(params)


def _statement(sql, params):
    """(statement, parameters) for psycopg: without parameters it reads the statement as it is."""
    if params is None:
        return sql, None
    return placeholders(sql), _params(params)


def _configure(conn):
    """Every connection of the app: autocommit, client-side binding, numbers as SQLite returns them, commits on
    disk before they are acknowledged."""
    conn.autocommit = True
    # A phone relies on a visit being on disk once it is acknowledged (SQLite: synchronous = FULL), whatever the
    # server's or the database's default says. The demo's bulk load alone turns it off, for its own transaction.
    conn.execute("SET synchronous_commit = on")
    conn.cursor_factory = psycopg.ClientCursor
    # sum() and avg() of integers are NUMERIC on PostgreSQL: read them as SQLite gives them (int or float).
    conn.adapters.register_loader("numeric", _NumberLoader)
    # Comparisons read as SQLite gives them (1 / 0), so that a page or a JSON answer is the same on both.
    conn.adapters.register_loader("bool", _BoolLoader)


class _NumberLoader(psycopg.adapt.Loader):
    def load(self, data):
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


class _BoolLoader(psycopg.adapt.Loader):
    def load(self, data):
        return 1 if bytes(data) == b"t" else 0


def connect(url):
    """A new connection to url of its own (not pooled): for the command line, migrations and tests."""
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as error:
        raise Unreachable(_reason(url, error)) from None
    _configure(conn)
    return Database(conn)


def _reason(url, error):
    """One line: which server failed and how (libpq's message without the host and port it repeats)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    first = _ATTEMPT.sub("", lines[0]).strip()
    detail = f"{first} ({' '.join(lines[1:])})" if lines[1:] else first
    if first.startswith("FATAL:"):  # the server answered, and said no
        return f"PostgreSQL at {describe(url)} refused the connection: {detail.removeprefix('FATAL:').strip()}"
    return f"PostgreSQL at {describe(url)} cannot be reached: {detail}"


# libpq's "connection failed: connection to server at "127.0.0.1", port 5432 failed: ", before the reason.
_ATTEMPT = re.compile(r'^(?:connection failed: )?connection to server (?:at|on) .*? failed: ')


_pools = {}
_pools_lock = threading.Lock()


def _still_there(conn):
    """The pool's check of a connection it hands out, without a round trip per request: a server that ended an
    idle connection (restarting, or an administrator's pg_terminate_backend) has sent it its farewell or closed it,
    so there is something to read; only then is it asked (and, gone, replaced by the pool)."""
    if conn.closed or select.select([conn.pgconn.socket], [], [], 0)[0]:
        ConnectionPool.check_connection(conn)


def pooled(url, pid):
    """A connection from this process's pool for url, handed back by Database.close."""
    with _pools_lock:
        pool = _pools.get((pid, url))
        if pool is None:
            while len(_pools) >= 4:  # test suites open many databases from one process: keep a few
                _pools.pop(next(iter(_pools))).close()
            pool = _pools[(pid, url)] = ConnectionPool(
                url, min_size=1, max_size=8, open=True, configure=_configure, check=_still_there,
                kwargs={"connect_timeout": 10}, name="fieldapp", timeout=15)
    try:
        return Database(pool.getconn(), pool)
    except PoolTimeout as error:
        raise Unreachable(f"PostgreSQL at {describe(url)} gave no connection in {pool.timeout:.0f} s: {error}") from None


def close_pools():
    """Close every pool of this process (tests dropping their databases)."""
    with _pools_lock:
        while _pools:
            _pools.pop(next(iter(_pools))).close()
