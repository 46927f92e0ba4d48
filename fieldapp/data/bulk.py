"""Bulk loading of generated rows (the demo community): one fast transaction, indexes built afterwards."""
import contextlib

from fieldapp.data.db import scalar, write


@contextlib.contextmanager
def load(db):
    """Run a block as one fast write transaction: no fsync, a large cache, no per-row constraint checks."""
    # The generated rows are made to fit the schema, and tests/test_demo.py proves it with integrity_check
    # and foreign_key_check. Checked row by row, the IN-list CHECKs and the foreign keys add about two thirds
    # to the time it takes to insert a million visits.
    pragmas = ("synchronous", "cache_size", "foreign_keys", "ignore_check_constraints")
    saved = {name: scalar(db, f"PRAGMA {name}") for name in pragmas}
    for name, value in zip(pragmas, ("OFF", -262_144, "OFF", "ON")):
        db.execute(f"PRAGMA {name} = {value}")
    try:
        with write(db):
            yield db
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        for name, value in saved.items():
            db.execute(f"PRAGMA {name} = {int(value)}")


def next_ids(db, tables):
    """The first free id of each of tables: ids chosen up front let generated rows refer to each other."""
    return {table: scalar(db, f"SELECT coalesce(max(id), 0) + 1 FROM {table}") for table in tables}


def insert(db, table, columns, rows):
    """Insert rows (tuples in the order of columns) in bulk, building the table's indexes afterwards."""
    # Building an index once is much faster than keeping it up to date through a million inserts.
    indexes = db.execute("SELECT name, sql FROM sqlite_master "
                         "WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table]).fetchall()
    for name, _sql in indexes:
        db.execute(f"DROP INDEX {name}")
    marks = ", ".join("?" * len(columns))
    db.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    for _name, sql in indexes:
        db.execute(sql)
