"""Gunicorn settings for production and for `make run` (the Procfile's web process)."""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
# Two cores, one SQLite writer at a time. Measured with the crash bench (50 phones sending visit batches back
# to back for 30 s, SIGKILL and restart at 15 s, 100,000-household demo, 2 cores shared with other work):
#   workers x threads   1x8       2x4        4x2        2x8        3x4
#   visits/s            121       138        147        143        69 (a busy minute)
#   p95 of a batch      839 ms    1,032 ms   1,492 ms   1,192 ms   2,283 ms
# 2x4 keeps most of the throughput of 4x2 with a p95 a third lower, and one worker may die without the app
# going away. `.venv/bin/python bench/crash_bench.py --workers W --threads T --duration 30 --kill-at 15`
# The mixed scenario (pages and visits, 20 users, the 10,000-household demo, each shape in turns) did not tell
# 2x4, 2x8, 3x4 and 3x1 sync apart on a machine kept at 100 % by other work: one shape's two turns differed more
# than the shapes did (docs/scaling.md, "The app's shape (gunicorn)"). The environment overrides all three, for
# the bench: `WEB_CONCURRENCY=2 GUNICORN_THREADS=8 .venv/bin/python bench/run.py --only limit`.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# The path without its query string, and no referrer: a search (?q=王秀英) or a filter must not put personal
# data into the server's logs.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
# Loaded before forking so that the schema is migrated once, not by each worker at once.
preload_app = True


def when_ready(server):
    """Hold the database's server lock while serving: `fieldapp restore` then refuses to overwrite it."""
    from fieldapp import backup
    from fieldapp.data import db as database

    app = server.app.wsgi()
    if database.is_postgres(app.config["DATABASE"]):
        return  # the lock is a file beside a SQLite database; a PostgreSQL server guards its own files
    try:
        server.fieldapp_lock = backup.hold_server_lock(app.config["DATABASE"])
    except BlockingIOError:
        server.log.warning("Another process is restoring %s", app.config["DATABASE"])
