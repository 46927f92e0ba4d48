"""`fieldapp backup` and `fieldapp restore`: a consistent copy of the live database (and of the photo store beside
it), and checks before anything is replaced. Each engine has its side: SQLite's online backup API
(data/backup.py), PostgreSQL's pg_dump and pg_restore (data/pg_backup.py); this module holds what both do alike.

A live WAL database is never copied as a file (the file alone may miss committed pages that are still in the
write-ahead log); the backup API reads one consistent snapshot while visits go on being written, as pg_dump does.
"""
import os
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from fieldapp import photostore
from fieldapp.config import DEFAULTS
from fieldapp.data import backup as sqlite_side
from fieldapp.data import db as database
from fieldapp.data import pg_backup as postgres_side
from fieldapp.data import postgres

BackupRefused = sqlite_side.BackupRefused
SIDES = (sqlite_side, postgres_side)


def side_of(target):
    """The side of backups for the database target: PostgreSQL's for a URL, SQLite's for a file."""
    return postgres_side if database.is_postgres(target) else sqlite_side


def _made_by(path):
    """The side whose backups begin as the file at path does, or None (no file, or neither's)."""
    try:
        with open(path, "rb") as file:
            start = file.read(16)
    except OSError:
        return None
    return next((side for side in SIDES if start.startswith(side.MAGIC)), None)


def backup(source, dest, *, checked=True, photos=None):
    """Write a consistent copy of the database source (a file or a URL) to dest (a file, or a folder for a dated
    file), and of the photo store's folder photos (when given) beside it as <file>.photos.

    Returns {"path", "bytes", "seconds", "checked", "photos"}. Refuses to overwrite an existing file; checked=False
    skips the check of the copy (for keeping a damaged database before it is replaced). The photos are copied after
    the database: the copy holds every photo the database names (and perhaps a few it does not yet).
    """
    side = side_of(source)
    if os.path.isdir(dest):
        dest = os.path.join(dest, f"fieldapp-{sqlite_side.stamp()}{side.SUFFIX}")
    started = time.perf_counter()

    def write(temporary):
        side.copy(source, temporary)
        problems = check(temporary, target=source)["problems"] if checked else []
        if problems:
            raise BackupRefused("The copy failed its check: " + "; ".join(problems))

    sqlite_side.complete_or_absent(dest, write)  # a backup file is complete or absent, never half written
    kept = back_up_photos(photos, dest) if photos else None
    return {"path": dest, "bytes": os.path.getsize(dest), "seconds": time.perf_counter() - started,
            "checked": side.CHECKED if checked else None, "photos": kept}


PHOTOS_SUFFIX = ".photos"


def back_up_photos(folder, dest):
    """Copy the photo store's folder beside the backup file dest (dest.photos), hard-linking the photos that the
    newest earlier backup in dest's folder holds; returns how many photos the copy holds."""
    earlier = sorted((entry.path for entry in os.scandir(os.path.dirname(os.path.abspath(dest)))
                      if entry.name.endswith(PHOTOS_SUFFIX) and entry.is_dir()), key=os.path.getmtime)
    return photostore.back_up(photostore.FolderStore(folder), dest + PHOTOS_SUFFIX,
                              previous=earlier[-1] if earlier else None)


def restore_photos(source_path, folder):
    """Put the photos of the backup at source_path (its .photos folder, if it has one) that the photo store's folder
    lacks into it; returns how many, or None when the backup has no photos."""
    held = source_path + PHOTOS_SUFFIX
    if not os.path.isdir(held):
        return None
    return photostore.copy_all(photostore.FolderStore(held), photostore.FolderStore(folder))


def check(path, *, target=None):
    """Whether path is a sound backup this version can restore into target's engine (by default the engine that
    made the file): {"problems", "applied", "pending"}."""
    made_by = _made_by(path)
    side = side_of(target) if target is not None else made_by or sqlite_side
    if made_by not in (None, side):
        return {"problems": [f"{path} is a {made_by.NAME} {made_by.KIND}, and the database is {side.NAME}: "
                             f"restore it into a {made_by.NAME} database."], "applied": [], "pending": []}
    found = side.read(path)
    applied, problems = found["applied"], list(found["problems"])
    if problems:
        return {"problems": problems, "applied": applied, "pending": found["pending"]}
    known = sqlite_side.known_versions()
    newest = max(_number(name) for name in known)
    newer = [name for name in applied if name not in known and _number(name) > newest]
    if newer:
        problems.append(f"made by a newer version of the app (schema {', '.join(newer)}); upgrade the app first.")
    if not applied:
        problems.append(f"not a Zero Distance {side.KIND} (no schema versions).")
    return {"problems": problems, "applied": applied, "pending": found["pending"]}


def _number(name):
    """The number a schema version's name starts with (0007_security -> 7); 0 if none."""
    digits = name.split("_", 1)[0]
    return int(digits) if digits.isdecimal() else 0


def hold_server_lock(target):
    """Take the server's lock on the database target while serving (a descriptor to keep open; None on
    PostgreSQL, which knows its sessions itself)."""
    return side_of(target).hold_server_lock(target)


def in_use(target):
    """Why the database target looks in use (a server runs on it), or None."""
    return side_of(target).in_use(target)


def remove(target):
    """Delete the database target whole: its file, or every object of its schema on PostgreSQL."""
    side_of(target).remove(target)


def restore(source_path, target, *, force=False, photos=None):
    """Replace the database target with the backup at source_path, after checking both.

    Keeps the replaced database (returned as "kept": beside a SQLite file, beside the dump for PostgreSQL), applies
    newer migrations to the restored copy and checks it, then puts the backup's photos into the photo store's
    folder photos (when given; the photos it holds already stay). Raises BackupRefused when the backup is unsound
    or the target is in use (unless force).
    """
    side = side_of(target)
    found = check(source_path, target=target)
    if found["problems"]:
        raise BackupRefused(f"{source_path}: " + " ".join(found["problems"]))
    if os.path.abspath(source_path) == os.path.abspath(target):
        raise BackupRefused("The backup and the database are the same file.")
    busy = side.in_use(target)
    if busy and not force:
        raise BackupRefused(f"{side.describe(target)} is in use: {busy}. Stop the server first, or pass --force.")
    kept = side.keep(target, source_path)
    side.replace(source_path, target)
    if side.upgrade_and_check(target):
        raise BackupRefused(f"The restored database failed its check; the previous one is kept at {kept}.")
    return {"kept": kept, "applied": len(found["pending"]),
            "photos": restore_photos(source_path, photos) if photos else None}


@click.command("backup")
@with_appcontext
@click.argument("dest", type=click.Path(dir_okay=True, writable=True))
def backup_command(dest):
    """Back up the database to DEST (a new file, or a folder for a dated file) while the app keeps running."""
    try:
        made = backup(current_app.config["DATABASE"], dest, photos=current_app.config["PHOTOS"])
    except BackupRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"Backup written to {made['path']}: {made['bytes'] / 1048576:.1f} MB in {made['seconds']:.1f} s, "
               f"{made['checked']}; {made['photos']} photo(s) in {made['path']}{PHOTOS_SUFFIX}.")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Restore even though the database looks in use.")
def restore_command(source, force):
    """Replace the database with the backup SOURCE (checked first; the replaced database is kept beside it)."""
    # Without the app: it cannot start on the damaged database that a restore is often meant to replace.
    target = os.environ.get("FIELDAPP_DATABASE", DEFAULTS["DATABASE"])
    try:
        done = restore(source, target, force=force, photos=os.environ.get("FIELDAPP_PHOTOS", DEFAULTS["PHOTOS"]))
    except BackupRefused as refused:
        raise click.ClickException(str(refused)) from None
    kept = f" The previous database is kept at {done['kept']}." if done["kept"] else ""
    photos = (f" No photos beside the backup ({source}{PHOTOS_SUFFIX})." if done["photos"] is None
              else f" {done['photos']} photo(s) put back into the photo store.")
    click.echo(f"Restored {source} into {postgres.shown(target)}; {done['applied']} schema upgrade(s) applied."
               f"{photos}{kept}")
