"""Gunicorn settings for production and for `make run` (the Procfile's web process)."""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
# Two cores: two worker processes with a few threads each; SQLite allows one writer at a time,
# so more processes add contention, not throughput. Issue 9 measures and revisits this.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# Loaded before forking so that the schema is migrated once, not by each worker at once.
preload_app = True


def when_ready(server):
    """Hold the database's server lock while serving: `fieldapp restore` then refuses to overwrite it."""
    from fieldapp import backup

    app = server.app.wsgi()
    try:
        server.fieldapp_lock = backup.hold_server_lock(app.config["DATABASE"])
    except BlockingIOError:
        server.log.warning("Another process is restoring %s", app.config["DATABASE"])
