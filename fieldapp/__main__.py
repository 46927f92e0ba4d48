"""The `fieldapp` command (also `python -m fieldapp`): Flask's commands and the app's, on the app create_app makes."""
import sys

import click
from flask.cli import FlaskGroup, ScriptInfo

from fieldapp import create_app
from fieldapp.backup import restore_command
from fieldapp.data import db as database


def _create_app():
    """The app, or a one-line error when it cannot start: its database cannot be reached, or SQLite is too old."""
    try:
        return create_app()
    except (database.Unreachable, database.SQLiteTooOld) as refused:
        raise click.ClickException(str(refused)) from None


class Commands(FlaskGroup):
    """Flask's command group, whose help shows the one-line reason the app cannot start instead of a traceback."""

    def list_commands(self, ctx):
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except click.ClickException as refused:
            refused.show()
            return sorted(click.Group.list_commands(self, ctx))  # the commands that need no app
        return super().list_commands(ctx)


@click.group(cls=Commands, create_app=_create_app, add_version_option=False)
def main():
    """Zero Distance (零距离): manage the database, the demo community and accounts."""


# `fieldapp restore` runs without creating the app, which cannot start on a damaged database.
main.add_command(restore_command)

if __name__ == "__main__":
    sys.exit(main())
