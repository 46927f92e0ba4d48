"""The app's commands: init-db, demo, create-user, import, export, remind, backup, purge, photos-cleanup
(`fieldapp` and `flask`)."""
import getpass
import os
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from fieldapp.data import cells, postgres, users
from fieldapp.data import households as household_data
from fieldapp.data import db as database


def init_app(app):
    """Add the commands below to app.cli (and so to `fieldapp` and `flask`)."""
    for command in (init_db, demo_command, create_user, import_command, export_command, remind_command):
        app.cli.add_command(command)
    from fieldapp import backup, photos, privacy  # (restore is on `main` itself: see below)

    for command in (backup.backup_command, privacy.purge_command, photos.cleanup_command):
        app.cli.add_command(command)


@click.command("init-db")
@with_appcontext
def init_db():
    """Create the database or upgrade it to the current schema."""
    db = database.connect(current_app.config["DATABASE"])
    pending = database.pending_migrations(db)
    database.migrations.apply(db)
    db.close()
    click.echo(f"Database {postgres.shown(current_app.config['DATABASE'])}: "
               f"{len(pending)} migration(s) applied, schema up to date.")


@click.command("demo")
@with_appcontext
@click.option("--households", default=2000, show_default=True, help="How many households to make.")
@click.option("--seed", default=20261128, show_default=True, help="Random seed: same seed, same community.")
@click.option("--replace", is_flag=True,
              help="Delete the existing database first (PostgreSQL: every table of its schema).")
def demo_command(households, seed, replace):
    """Build the demo community (a made-up sub-district in Hangzhou's Xihu district)."""
    from fieldapp import backup, demo

    target = current_app.config["DATABASE"]
    db = database.connect(target, migrate=True)
    if household_data.count(db):
        if not replace:
            raise click.ClickException(f"{postgres.shown(target)} already holds households; "
                                       "pass --replace to rebuild it.")
        db.close()
        try:
            backup.remove(target)
        except backup.BackupRefused as refused:
            raise click.ClickException(str(refused)) from None
        db = database.connect(target, migrate=True)
    started = time.perf_counter()
    summary = demo.build(db, households=households, seed=seed,
                         geodata_dir=demo.GEODATA_DIR if households == 2000 else None)
    click.echo(f"Demo community built in {time.perf_counter() - started:.1f} s: " +
               ", ".join(f"{count} {name}" for name, count in summary.items()))
    click.echo("Accounts (password demo1234): admin, leader1, leader2 (leader3 for the village grid), member1 ... member12")


@click.command("create-user")
@with_appcontext
@click.argument("username")
@click.option("--role", type=click.Choice(["member", "leader", "admin"]), default="admin", show_default=True)
@click.option("--name", "display_name", help="The name people see.")
@click.option("--grid", "grid_code", help="A leader's grid (its code).")
@click.option("--password", envvar="FIELDAPP_NEW_PASSWORD", help="Read from a prompt if not given.")
def create_user(username, role, display_name, grid_code, password):
    """Create an account (the first admin, for example)."""
    from fieldapp.auth import hash_password

    db = database.connect(current_app.config["DATABASE"])
    if users.by_username(db, username):
        raise click.ClickException(f"A user named {username!r} exists already.")
    grid_id = None
    if grid_code:
        grid_id = cells.grid_id_by_code(db, grid_code)
        if grid_id is None:
            raise click.ClickException(f"No grid with code {grid_code!r}.")
    if role == "leader" and grid_id is None:
        raise click.ClickException("A leader needs a grid: pass --grid CODE.")
    if not password:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            raise click.ClickException("The two passwords differ.")
    if len(password) < 10:
        raise click.ClickException("The password must have at least 10 characters.")
    users.create(db, username=username, password_hash=hash_password(password), role=role,
                 display_name=display_name, grid_id=grid_id)
    click.echo(f"Created {role} {username}.")



def _in_language(app):
    """A request context in the terminal's language (zh if LANG says so, else English), for messages."""
    lang = "zh" if os.environ.get("LANG", "").lower().startswith("zh") else "en"
    return app.test_request_context(f"/?lang={lang}")


@click.command("import")
@with_appcontext
@click.argument("kind", type=click.Choice(["cells", "buildings", "households"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", type=click.Choice(["wgs84", "gcj02"]), default="wgs84", show_default=True,
              help="The coordinates' system; GCJ-02 is converted to WGS-84.")
@click.option("--dry-run", is_flag=True, help="Check the file and print the preview; write nothing.")
def import_command(kind, file, crs, dry_run):
    """Import cells, buildings or households from GeoJSON, CSV or .xlsx (all or nothing)."""
    from fieldapp import imports
    from fieldapp.imports.problems import describe, where

    db = database.connect(current_app.config["DATABASE"])
    with _in_language(current_app):
        if os.path.getsize(file) > imports.LIMIT_MB * 1024 * 1024:
            size = os.path.getsize(file) / 1048576
            raise click.ClickException(describe({"code": "too_large", "params": {"size": f"{size:.1f}",
                                                                                 "limit": imports.LIMIT_MB}}))
        with open(file, "rb") as source:
            report = imports.preview(db, kind, source.read(), os.path.basename(file), crs)
        for found in report["skipped"]:
            click.echo(f"{where(found)}: {describe(found)}", err=True)
        for found in report["errors"]:
            field = f" [{found['field']}]" if found.get("field") else ""
            click.echo(f"{where(found)}{field}: {describe(found)}", err=True)
        summary = (f"{kind}: {report['add']} to add, {report['update']} to update, {report['unchanged']} unchanged, "
                   f"{len(report['skipped'])} skipped, {len(report['errors'])} errors.")
        if report["errors"]:
            raise click.ClickException(summary + " Nothing was imported.")
        if not dry_run:
            imports.commit(db, report)
            from fieldapp.data import audit

            audit.log(db, user_id=None, action="import", target_type=kind,
                      detail={"file": os.path.basename(file), "added": report["add"], "updated": report["update"],
                              "via": "cli"})
        click.echo(summary + (" Dry run: nothing written." if dry_run else " Imported."))


@click.command("export")
@with_appcontext
@click.argument("kind", type=click.Choice(["cells", "buildings", "households", "visits"]))
@click.option("--format", "fmt", type=click.Choice(["geojson", "csv", "xlsx"]), required=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), required=True)
def export_command(kind, fmt, output):
    """Export cells, buildings or households (GeoJSON, CSV, .xlsx) or visits (CSV, .xlsx), importable again."""
    from fieldapp.data import audit
    from fieldapp.exports import kinds
    from fieldapp.clock import clock

    if fmt not in kinds.FORMATS[kind]:
        raise click.ClickException(f"{kind} can be exported as {', '.join(kinds.FORMATS[kind])} only.")
    db = database.connect(current_app.config["DATABASE"])
    result = kinds.export(db, kind, fmt, clock(db))
    with open(output, "wb") as out:
        out.write(result["content"])
    audit.log(db, user_id=None, action="export", target_type=kind,
              detail={"format": fmt, "rows": result["count"], "personal": result["personal"], "via": "cli"})
    click.echo(f"{result['count']} {kind} written to {output}.")



@click.command("remind")
@with_appcontext
@click.option("--now", "force", is_flag=True, help="Send today's digests at once, whatever their hour.")
def remind_command(force):
    """Send each grid's daily digest (at its hour) and overdue alert to its group robot, once a day; run hourly."""
    from fieldapp import remind
    from fieldapp.clock import clock

    db = database.connect(current_app.config["DATABASE"])
    with current_app.test_request_context("/"):
        summary = remind.run(db, clock(db), force=force, echo=click.echo)
    click.echo(f"{summary['sent']} sent, {summary['failed']} failed, {summary['skipped']} sent before, "
               f"{summary['waiting']} grid(s) before their hour.")
    if summary["failed"]:
        raise SystemExit(1)
