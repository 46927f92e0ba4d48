"""SQLite's side of backups: bare connections to files that are not the live database, the online backup API,
the integrity checks, the schema versions a file holds and the server's lock; and what both engines' sides share
(the refusal, a file complete or absent, the schema versions this app knows).

Each side (this module, and data/pg_backup.py for PostgreSQL) answers the same names, which fieldapp/backup.py
calls: NAME, KIND, SUFFIX, MAGIC, CHECKED, describe, copy, read, in_use, hold_server_lock, keep, replace,
upgrade_and_check, remove.
"""
import fcntl
import os
import shutil
from datetime import datetime, timezone

from sqlite_utils.utils import sqlite3

from fieldapp.data import db as database
from fieldapp.data.migrations import migrations

DatabaseError = sqlite3.DatabaseError  # what a damaged file, or one that is no database, raises

NAME = "SQLite"
KIND = "database"  # what a backup of this engine is
SUFFIX = ".db"
MAGIC = b"SQLite format 3\x00"  # how every SQLite database file begins
CHECKED = "integrity checked"


class BackupRefused(Exception):
    """A backup or restore was refused; the message says why and what to do."""


def known_versions():
    """The names of every schema version this app has."""
    return migrations.names()


def stamp():
    """The time now as backup files are named by it (UTC): 20261128-063000."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def unused(name, suffix=""):
    """name + suffix, or name-2 + suffix, name-3 ... if it is taken (two restores in one second keep two files)."""
    found, n = f"{name}{suffix}", 1
    while os.path.exists(found):
        n += 1
        found = f"{name}-{n}{suffix}"
    return found


def complete_or_absent(dest, write):
    """Make the new file dest with write(path): write fills dest.partial, which is synced and renamed, so that dest
    is complete or absent, never half written. Refuses an existing dest; any failure leaves no file behind."""
    if os.path.exists(dest):
        raise BackupRefused(f"{dest} exists already; choose a new name or a folder.")
    temporary = f"{dest}.partial"
    try:
        write(temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, dest)
    except OSError as error:
        _remove_quietly(temporary)
        raise BackupRefused(f"Cannot write {dest}: {error.strerror or error}.") from None
    except BaseException:
        _remove_quietly(temporary)
        raise
    folder = os.open(os.path.dirname(os.path.abspath(dest)), os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself on disk
    finally:
        os.close(folder)


def _remove_quietly(path):
    if os.path.exists(path):
        os.remove(path)


def describe(path):
    """The database at path as messages name it."""
    return path


def open_file(path, readonly=False):
    """A bare connection (no WAL switch, no migrations): for files that are not the app's live database."""
    if readonly:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    return sqlite3.connect(path, timeout=10)


def copy(source_path, dest_path):
    """Copy the database at source_path, live or not, to the new file dest_path."""
    if not os.path.isfile(source_path):
        raise BackupRefused(f"There is no database at {source_path}.")
    copy_file(source_path, dest_path)


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


def read(path):
    """What the file at path holds: {"problems" (unreadable, damaged), "applied", "pending" (schema versions)}."""
    if not os.path.isfile(path):
        return {"problems": [f"{path} is not a file."], "applied": [], "pending": []}
    try:
        conn = open_file(path, readonly=True)
        try:
            integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            db = database.SQLiteDatabase(conn)
            applied, pending = [m.name for m in migrations.applied(db)], [m.name for m in migrations.pending(db)]
        finally:
            conn.close()
    except DatabaseError as error:
        return {"problems": [f"{path} is not a readable SQLite database ({error})."], "applied": [], "pending": []}
    problems = [] if integrity == ["ok"] else ["integrity check failed: " + "; ".join(integrity[:5])]
    return {"problems": problems, "applied": applied, "pending": pending}


def lock_path(db_path):
    """The file a running server holds a lock on, beside the database."""
    return f"{db_path}.server-lock"


def hold_server_lock(db_path):
    """Take the shared server lock on db_path for as long as the returned descriptor stays open."""
    fd = os.open(lock_path(db_path), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    return fd


def in_use(db_path):
    """Why db_path looks in use (a server holds its lock, or a write-ahead log is open), or None."""
    if os.path.exists(lock_path(db_path)):
        fd = os.open(lock_path(db_path), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "a server is running on it"
        finally:
            os.close(fd)  # closing releases the lock if it was taken
    wal = f"{db_path}-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        return "it has an open write-ahead log (a process has it open, or it was not closed cleanly)"
    return None


def keep(path, source_path):
    """Copy the database at path, about to be replaced, beside it, damaged or not; return the copy's path (None:
    there is no database at path)."""
    if not os.path.exists(path):
        return None
    kept = unused(f"{path}.before-restore-{stamp()}")
    try:
        complete_or_absent(kept, lambda temporary: copy(path, temporary))
        return kept
    except DatabaseError:
        for suffix in ("", "-wal"):
            if os.path.exists(path + suffix):
                shutil.copy2(path + suffix, kept + suffix)
        return kept


def replace(source_path, target_path):
    """Put the backup at source_path in place of the database at target_path."""
    try:
        copy_into(source_path, target_path)
    except DatabaseError:  # the current file is no database any more: replace the file itself
        temporary = f"{target_path}.restoring"
        copy_file(source_path, temporary, readonly=True)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(target_path + suffix):
                os.remove(target_path + suffix)
        os.replace(temporary, target_path)


def upgrade_and_check(path):
    """Apply pending schema versions to the database at path; return what its quick check found wrong."""
    # A quick check is enough: the backup had the full one.
    db = database.connect(path, migrate=True)
    try:
        lines = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
    finally:
        db.close()
    return [] if lines == ["ok"] else lines


def remove(path):
    """Delete the database at path: its file, its write-ahead log and shared memory."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
