"""The request's database connection (as flaskr's db.py): a SQLite connection kept by each server thread between
requests, or one from the process's PostgreSQL pool for the request."""
import threading

from flask import current_app, g

from fieldapp.data import db as database

_kept = threading.local()


def init_app(app):
    """Hand the request's connection back at the end of each app context."""
    app.teardown_appcontext(close_db)


def get_db():
    """The request's database connection."""
    if "db" not in g:
        g.db = database.request_connection(_kept, current_app.config["DATABASE"])
    return g.db


def close_db(exc=None):
    """Hand the request's connection back: nothing may stay open inside a transaction."""
    db = g.pop("db", None)
    if db is not None:
        database.release(db)
