"""`fieldapp backup` and `fieldapp restore`: SQLite's online backup API, with checks before anything is replaced.

A live WAL database is never copied as a file (the file alone may miss committed pages that are still in the
write-ahead log); the backup API reads one consistent snapshot while visits go on being written.
"""
import fcntl
import os
import shutil
import time
from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import with_appcontext

from fieldapp.config import DEFAULTS
from fieldapp.data import backup as data_backup


class BackupRefused(Exception):
    """A backup or restore was refused; the message says why and what to do."""


def backup(source_path, dest, *, checked=True):
    """Write a consistent copy of the database at source_path to dest (a file, or a folder for a dated file).

    Returns {"path", "bytes", "seconds"}. Refuses to overwrite an existing file; checked=False skips the
    integrity check of the copy (for keeping a damaged database before it is replaced).
    """
    if os.path.isdir(dest):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        dest = os.path.join(dest, f"fieldapp-{stamp}.db")
    if os.path.exists(dest):
        raise BackupRefused(f"{dest} exists already; choose a new name or a folder.")
    if not os.path.isfile(source_path):
        raise BackupRefused(f"There is no database at {source_path}.")
    started = time.perf_counter()
    temporary = f"{dest}.partial"
    data_backup.copy_file(source_path, temporary)
    problems = check(temporary)["problems"] if checked else []
    if problems:
        os.remove(temporary)
        raise BackupRefused("The copy failed its check: " + "; ".join(problems))
    with open(temporary, "rb") as written:
        os.fsync(written.fileno())
    os.replace(temporary, dest)  # a backup file is complete or absent, never half written
    return {"path": dest, "bytes": os.path.getsize(dest), "seconds": time.perf_counter() - started}


def check(path):
    """Whether path is a sound backup this version can restore: {"problems", "applied", "pending"}."""
    if not os.path.isfile(path):
        return {"problems": [f"{path} is not a file."], "applied": [], "pending": []}
    try:
        found = data_backup.inspect(path)
    except data_backup.DatabaseError as error:
        return {"problems": [f"{path} is not a readable SQLite database ({error})."], "applied": [], "pending": []}
    applied, pending = found["applied"], found["pending"]
    problems = []
    if found["integrity"] != ["ok"]:
        problems.append("integrity check failed: " + "; ".join(found["integrity"][:5]))
    known = data_backup.known_versions()
    newest = max(_number(name) for name in known)
    newer = [name for name in applied if name not in known and _number(name) > newest]
    if newer:
        problems.append(f"made by a newer version of the app (schema {', '.join(newer)}); upgrade the app first.")
    if not applied:
        problems.append("not a Zero Distance database (no schema versions).")
    return {"problems": problems, "applied": applied, "pending": pending}


def _number(name):
    """The number a schema version's name starts with (0007_security -> 7); 0 if none."""
    digits = name.split("_", 1)[0]
    return int(digits) if digits.isdecimal() else 0


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


def restore(source_path, target_path, *, force=False):
    """Replace the database at target_path with the backup at source_path, after checking both.

    Keeps the replaced database beside it (returned as "kept"), applies newer migrations to the restored
    copy and checks it. Raises BackupRefused when the backup is unsound or the target is in use (unless force).
    """
    found = check(source_path)
    if found["problems"]:
        raise BackupRefused(f"{source_path}: " + " ".join(found["problems"]))
    if os.path.abspath(source_path) == os.path.abspath(target_path):
        raise BackupRefused("The backup and the database are the same file.")
    busy = in_use(target_path) if os.path.exists(target_path) else None
    if busy and not force:
        raise BackupRefused(f"{target_path} is in use: {busy}. Stop the server first, or pass --force.")
    kept = _keep(target_path) if os.path.exists(target_path) else None
    try:
        data_backup.copy_into(source_path, target_path)
    except data_backup.DatabaseError:  # the current file is no database any more: replace the file itself
        _replace_file(source_path, target_path)
    # A quick check is enough: the source had the full one.
    if data_backup.upgrade_and_quick_check(target_path) != ["ok"]:
        raise BackupRefused(f"The restored database failed its check; the previous one is kept at {kept}.")
    return {"kept": kept, "applied": len(found["pending"])}


def _keep(path):
    """Copy the database about to be replaced beside it, damaged or not; return the copy's path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    kept = f"{path}.before-restore-{stamp}"
    try:
        return backup(path, kept, checked=False)["path"]
    except data_backup.DatabaseError:
        for suffix in ("", "-wal"):
            if os.path.exists(path + suffix):
                shutil.copy2(path + suffix, kept + suffix)
        return kept


def _replace_file(source_path, target_path):
    """Put a copy of the backup in place of target_path's file (and drop its write-ahead log)."""
    temporary = f"{target_path}.restoring"
    data_backup.copy_file(source_path, temporary, readonly=True)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(target_path + suffix):
            os.remove(target_path + suffix)
    os.replace(temporary, target_path)


@click.command("backup")
@with_appcontext
@click.argument("dest", type=click.Path(dir_okay=True, writable=True))
def backup_command(dest):
    """Back up the database to DEST (a new file, or a folder for a dated file) while the app keeps running."""
    try:
        made = backup(current_app.config["DATABASE"], dest)
    except BackupRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"Backup written to {made['path']}: {made['bytes'] / 1048576:.1f} MB in {made['seconds']:.1f} s, "
               f"integrity checked.")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Restore even though the database looks in use.")
def restore_command(source, force):
    """Replace the database with the backup SOURCE (checked first; the replaced database is kept beside it)."""
    # Without the app: it cannot start on the damaged database that a restore is often meant to replace.
    target = os.environ.get("FIELDAPP_DATABASE", DEFAULTS["DATABASE"])
    try:
        done = restore(source, target, force=force)
    except BackupRefused as refused:
        raise click.ClickException(str(refused)) from None
    kept = f" The previous database is kept at {done['kept']}." if done["kept"] else ""
    click.echo(f"Restored {source} into {target}; {done['applied']} schema upgrade(s) applied.{kept}")
