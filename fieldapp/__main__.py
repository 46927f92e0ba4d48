"""The `fieldapp` command (also `python -m fieldapp`): Flask's commands and the app's, on the app create_app makes."""
import sys

import click
from flask.cli import FlaskGroup

from fieldapp import create_app
from fieldapp.backup import restore_command


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False)
def main():
    """Zero Distance (零距离): manage the database, the demo community and accounts."""


# `fieldapp restore` runs without creating the app, which cannot start on a damaged database.
main.add_command(restore_command)

if __name__ == "__main__":
    sys.exit(main())
