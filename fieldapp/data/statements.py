"""The statements every query goes through, on a connection of either engine: a write transaction, inserts,
rows as plain dicts, and a scope's IN list."""
import contextlib


@contextlib.contextmanager
def write(db):
    """Run a block as one write transaction that takes the write lock up front.

    SQLite: BEGIN IMMEDIATE, the database's one writer. PostgreSQL: BEGIN (read committed); the rows a write
    reads to decide (a request's version, a visit's uuid) are locked where it reads them (dialect.for_update).
    """
    if db.in_transaction:  # nested: join the outer transaction
        yield db
        return
    db.begin()
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    else:
        db.commit()


def insert(db, table, row, *, returning="id", unless=None):
    """Insert the dict row into table; return its new id (the column returning; None: nothing).

    unless: a column with a unique index; when a row with the same value exists (or a concurrent transaction
    commits one meanwhile: the insert waits for it) nothing is inserted and None returned.
    """
    columns = list(row)
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
           + (f" ON CONFLICT ({unless}) DO NOTHING" if unless else "")
           + (f" RETURNING {returning}" if returning else ""))
    found = db.execute(sql, row).fetchone()
    return found[0] if found else None


def insert_many(db, table, rows):
    """Insert the dicts rows (with the same keys) into table."""
    rows = list(rows)
    if rows:
        columns = list(rows[0])
        db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       [[row[c] for c in columns] for row in rows])


def upsert_sql(table, columns, key, keep, source):
    """INSERT of columns from source (a VALUES list or a SELECT) into table that updates the row with the same
    key instead, leaving the columns keep as they were."""
    changed = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key and c not in keep)
    return (f"INSERT INTO {table} ({', '.join(columns)}) {source} "
            f"ON CONFLICT ({key}) DO UPDATE SET {changed}")


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
        return "TRUE"
    names = []
    for i, value in enumerate(ids):
        params[f"{prefix}{i}"] = value
        names.append(f":{prefix}{i}")
    return f"{column} IN ({', '.join(names) or 'NULL'})"
