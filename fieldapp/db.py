"""The request's database connection (as flaskr's db.py): each server thread keeps its own between requests."""
import threading

from flask import current_app, g

from fieldapp.data import db as database

_kept = threading.local()


def init_app(app):
    """Hand the request's connection back at the end of each app context."""
    app.teardown_appcontext(close_db)


def get_db():
    """The request's database connection: the thread's own, kept open between requests."""
    if "db" not in g:
        g.db = database.kept(_kept, current_app.config["DATABASE"])
    return g.db


def close_db(exc=None):
    """Hand the request's connection back: nothing may stay open inside a transaction."""
    db = g.pop("db", None)
    if db is not None and db.conn.in_transaction:
        db.conn.rollback()
