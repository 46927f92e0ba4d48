"""SQLite's side of backups: bare connections to files that are not the live database, the online backup API,
the integrity checks, and the schema versions a file holds."""
from sqlite_utils.utils import sqlite3

from fieldapp.data import db as database
from fieldapp.data.migrations import migrations

DatabaseError = sqlite3.DatabaseError  # what a damaged file, or one that is no database, raises


def open_file(path, readonly=False):
    """A bare connection (no WAL switch, no migrations): for files that are not the app's live database."""
    if readonly:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    return sqlite3.connect(path, timeout=10)


def copy_file(source_path, dest_path, *, readonly=False):
    """Copy the database at source_path to dest_path (a new file) as one self-contained file."""
    source = open_file(source_path, readonly)
    try:
        dest = sqlite3.connect(dest_path)
        try:
            # pages=-1: one step, one read snapshot of the source; writers go on meanwhile (WAL).
            source.backup(dest, pages=-1)
            dest.execute("PRAGMA journal_mode = DELETE")  # the copy needs no -wal beside it
            dest.commit()
        finally:
            dest.close()
    finally:
        source.close()


def copy_into(source_path, target_path):
    """Write the backup at source_path over the database at target_path, through the backup API."""
    source = open_file(source_path, readonly=True)
    try:
        target = open_file(target_path)
        try:
            # Not a file copy: other connections see the old or the new database, whole.
            source.backup(target, pages=-1)
        finally:
            target.close()
    finally:
        source.close()


def inspect(path):
    """The integrity check's lines and the schema versions applied to and pending for the file at path."""
    conn = open_file(path, readonly=True)
    try:
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        db = database.SQLiteDatabase(conn)
        return {"integrity": integrity, "applied": [m.name for m in migrations.applied(db)],
                "pending": [m.name for m in migrations.pending(db)]}
    finally:
        conn.close()


def known_versions():
    """The names of every schema version this app has."""
    return migrations.names()


def upgrade_and_quick_check(path):
    """Apply pending schema versions to the database at path, then return its quick check's lines."""
    db = database.connect(path, migrate=True)
    try:
        return [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
    finally:
        db.close()
