"""PostgreSQL's side of backups: pg_dump's custom format, read back whole by pg_restore, and a restore that replaces
the app's schema (public) whole, put back as it was when pg_restore fails.

It answers the names data/backup.py lists for SQLite's side. pg_dump and pg_restore come from PATH or from the
newest of Debian's /usr/lib/postgresql/*/bin (package postgresql-client); they get the URL without its password,
which goes to them in the environment: a command line is visible to every user of the machine.
"""
import glob
import os
import re
import shutil
import subprocess
from urllib.parse import unquote, urlsplit, urlunsplit

from fieldapp.data import db as database
from fieldapp.data import postgres
from fieldapp.data.backup import BackupRefused, complete_or_absent, known_versions, stamp, unused
from fieldapp.data.migrations import migrations

NAME = "PostgreSQL"
KIND = "dump"
SUFFIX = ".dump"
MAGIC = b"PGDMP"  # how every archive of pg_dump's custom format begins
CHECKED = "read back whole by pg_restore"

DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
SCHEMA = "public"  # the app's tables, functions and collation (migration 0001's nocase)
MIGRATIONS = "fieldapp_migrations"


def tool(name):
    """The path of PostgreSQL's client program name (pg_dump, pg_restore): on PATH, else the newest Debian has."""
    found = shutil.which(name)
    if found:
        return found
    installed = glob.glob(os.path.join(DEBIAN_BINARIES, name))
    if installed:
        return max(installed, key=_major_version)
    raise BackupRefused(f"{name} is not installed: it comes with Debian's postgresql-client package "
                        "(apt-get install postgresql-client).")


def _major_version(path):
    """The major version in a path like /usr/lib/postgresql/15/bin/pg_dump (15); -1 if none."""
    version = path.split(os.sep)[-3]
    return int(version) if version.isdecimal() else -1


def libpq_arguments(url):
    """url without its password, and the environment that gives the password to pg_dump and pg_restore instead."""
    env = {**os.environ, "PGCONNECT_TIMEOUT": os.environ.get("PGCONNECT_TIMEOUT", "10")}
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if colon:
        env["PGPASSWORD"] = unquote(password)
        url = urlunsplit(parts._replace(netloc=f"{user}{at}{hosts}"))
    return url, env


def _run(name, *args, url=None):
    """Run PostgreSQL's program name with args (and the database url, if given); its output. Refuses with its
    error, in one line, when it fails."""
    command, env = [tool(name), "--no-password", *args], None
    if url is not None:
        bare, env = libpq_arguments(url)
        command.append(f"--dbname={bare}")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode < 0:
        raise BackupRefused(f"{name} was killed by signal {-done.returncode}")
    if done.returncode:
        raise BackupRefused(_error_line(done.stderr) or f"{name} failed (exit status {done.returncode})")
    return done.stdout


def _error_line(stderr):
    """The error a PostgreSQL program wrote, in one line: from its last "error:" line on, its details joined."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [n for n, line in enumerate(lines) if ": error: " in line]
    if not errors:
        return lines[-1] if lines else ""
    first, *details = lines[errors[-1]:]
    first = first.replace(": error: ", ": ", 1)
    return f"{first} ({' '.join(details)})" if details else first


def describe(url):
    """The database at url as messages name it (without its password)."""
    return f"PostgreSQL at {postgres.describe(url)}"


def _connect(url, *, migrate=False):
    try:
        return database.connect(url, migrate=migrate)
    except postgres.Unreachable as unreachable:
        raise BackupRefused(str(unreachable)) from None


def copy(url, dest_path):
    """Dump the database at url, live or not, to the new file dest_path: one consistent snapshot (pg_dump reads in
    one repeatable-read transaction while visits go on being written)."""
    try:
        _run("pg_dump", "--format=custom", f"--file={dest_path}", url=url)
    except BackupRefused as refused:
        raise BackupRefused(f"pg_dump could not back up {describe(url)}: {refused}") from None


def read(path):
    """What the dump at path holds: {"problems" (unreadable, damaged), "applied", "pending" (schema versions)}."""
    if not os.path.isfile(path):
        return {"problems": [f"{path} is not a file."], "applied": [], "pending": []}
    try:
        listing = _run("pg_restore", "--list", path)
    except BackupRefused as refused:
        return {"problems": [f"{path} is not a readable PostgreSQL dump ({refused})."], "applied": [], "pending": []}
    if not re.search(rf"^\d+; \d+ \d+ TABLE DATA \S+ {MIGRATIONS}\b", listing, re.MULTILINE):
        return {"problems": [], "applied": [], "pending": []}  # no schema versions: not the app's
    try:
        # The list is the archive's table of contents; reading every table's data to nowhere finds a damaged one.
        _run("pg_restore", f"--file={os.devnull}", path)
        script = _run("pg_restore", "--data-only", f"--table={MIGRATIONS}", "--file=-", path)
    except BackupRefused as refused:
        return {"problems": [f"{path} is damaged: {refused}."], "applied": [], "pending": []}
    applied = _applied(script)
    return {"problems": [], "applied": applied, "pending": [name for name in known_versions() if name not in applied]}


def _applied(script):
    """The app's schema versions in the COPY block of fieldapp_migrations that pg_restore wrote, in the order they
    were applied."""
    rows, columns = [], None
    for line in script.splitlines():
        if columns is None:
            found = re.match(rf"COPY \S*{MIGRATIONS} \(([^)]*)\) FROM stdin;", line)
            if found:
                columns = [column.strip() for column in found.group(1).split(",")]
        elif line == "\\.":
            break
        else:
            rows.append(dict(zip(columns, line.split("\t"))))
    versions = [row for row in rows if row.get("migration_set") == migrations.set_name]
    return [row["name"] for row in sorted(versions, key=lambda row: (row.get("applied_at", ""), row["name"]))]


def in_use(url):
    """Why the database at url looks in use (other sessions are connected to it: a server's pool), or None."""
    db = _connect(url)
    try:
        others = database.scalar(db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
    finally:
        db.close()
    return f"{others} other connection(s) are open to it (a server is running on it?)" if others else None


def hold_server_lock(url):
    """No lock file: PostgreSQL knows its sessions (in_use asks it)."""
    return None


def keep(url, source_path):
    """Dump the database at url, about to be replaced, beside the dump being restored; return the new dump's path
    (None: the database holds no tables yet)."""
    db = _connect(url)
    try:
        empty = not db.table_names()
    finally:
        db.close()
    if empty:
        return None
    kept = unused(os.path.join(os.path.dirname(os.path.abspath(source_path)), f"fieldapp-before-restore-{stamp()}"),
                  SUFFIX)
    complete_or_absent(kept, lambda temporary: copy(url, temporary))
    return kept


def replace(source_path, url):
    """Put the dump at source_path in place of the app's schema in the database at url.

    The schema is set aside under another name and a new, empty one made; pg_restore fills it in one transaction.
    Tables of a newer schema version than the dump's are gone with the old schema, so the restored copy upgrades
    like any older database. When pg_restore fails, the schema set aside is put back.
    """
    aside = f"fieldapp_before_restore_{stamp().replace('-', '_')}"

    def put_back(db):
        db.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
        db.execute(f"ALTER SCHEMA {aside} RENAME TO {SCHEMA}")

    _in_one_transaction(url, "set the current schema aside", lambda db: _renew_schema(db, rename_to=aside))
    try:
        _run("pg_restore", "--no-owner", "--single-transaction", "--exit-on-error", source_path, url=url)
    except BackupRefused as refused:
        _in_one_transaction(url, "put the schema back", put_back)
        raise BackupRefused(f"pg_restore failed; the database is as it was: {refused}") from None
    _in_one_transaction(url, "drop the schema set aside", lambda db: db.execute(f"DROP SCHEMA {aside} CASCADE"))


def remove(url):
    """Drop every table, function and collation of the app's schema at url, and make the schema anew, empty."""
    _in_one_transaction(url, "empty the schema", _renew_schema)


def _in_one_transaction(url, what, change):
    """Run change(db) on the database at url in one transaction; refuse with the server's reason if it fails."""
    db = _connect(url)
    try:
        with database.write(db):
            change(db)
    except postgres.DatabaseError as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise BackupRefused(f"Could not {what} in {describe(url)}: {reason}") from None
    finally:
        db.close()


def _renew_schema(db, *, rename_to=None):
    """Make the app's schema anew, empty, with the owner it had (pg_database_owner on a new database) and usable by
    everyone as on a new database, after renaming the current one to rename_to or dropping it with all it holds."""
    owner = database.scalar(db, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = ?", [SCHEMA])
    if rename_to:
        db.execute(f"ALTER SCHEMA {SCHEMA} RENAME TO {rename_to}")
    else:
        db.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    db.execute(f"CREATE SCHEMA {SCHEMA} AUTHORIZATION {owner}")
    db.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO PUBLIC")


def upgrade_and_check(url):
    """Apply pending schema versions to the restored database at url; return what is wrong with it. Its tables are
    analysed for the planner (a dump holds no statistics)."""
    db = _connect(url, migrate=True)
    try:
        problems = [f"schema version {name} is not applied" for name in database.pending_migrations(db)]
        db.execute("ANALYZE")
    finally:
        db.close()
    return problems
