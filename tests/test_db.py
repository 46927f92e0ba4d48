"""The request's database connection: kept per thread (SQLite) or pooled (PostgreSQL), handed back outside any
transaction."""
from fieldapp.data import db as database
from fieldapp.db import get_db
from tests import engines


def test_a_kept_connection_sees_other_writers_and_never_hands_on_a_transaction(app, db):
    """Each server thread keeps its connection across requests: a request left inside a transaction is rolled
    back at its end (nothing half-written, the write lock free), and the next request sees what others wrote."""
    with app.app_context():
        kept = get_db()
        kept.begin()
        kept.execute("INSERT INTO settings (key, value) VALUES ('half_written', '1')")
    assert database.scalar(db, "SELECT count(*) FROM settings WHERE key = 'half_written'") == 0
    with database.write(db):  # the write lock was given back: this does not wait for busy_timeout
        db.execute("INSERT INTO settings (key, value) VALUES ('from_elsewhere', '2')")
    with app.app_context():
        again = get_db()
        if not engines.POSTGRES:  # PostgreSQL's pool hands out any of its connections
            assert again is kept
        assert database.scalar(again, "SELECT value FROM settings WHERE key = 'from_elsewhere'") == "2"
