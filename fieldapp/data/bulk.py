"""Bulk loading of generated rows (the demo community): one fast transaction, rows with ids chosen up front."""
import contextlib

from fieldapp.data.db import scalar


@contextlib.contextmanager
def load(db):
    """Run a block as one fast write transaction (each engine's own way: data/db.py, data/postgres.py)."""
    with db.bulk():
        yield db


def next_ids(db, tables):
    """The first free id of each of tables: ids chosen up front let generated rows refer to each other."""
    return {table: scalar(db, f"SELECT coalesce(max(id), 0) + 1 FROM {table}") for table in tables}


def insert(db, table, columns, rows):
    """Insert rows (tuples in the order of columns) in bulk; ids among them count as taken."""
    db.load(table, columns, rows)
    if "id" in columns:
        db.ids_given(table)
