"""The real app plus the baselines of `make bench`, served by the same gunicorn in the same processes.

    gunicorn -c gunicorn.conf.py "bench.baseline:create_app()"   (FIELDAPP_BENCH_DIR: a folder of the bench's)

Baselines, each as bare as its figure asks:
- GET /bench/bare/<name>: the bytes of a page the bench saved in FIELDAPP_BENCH_DIR, as text/html; no database,
  no template, no sign-in (the app's after-request hooks, compression among them, still apply);
- GET /bench/file/<name>: a gzipped file of that folder sent as a static file (send_from_directory);
- POST /bench/insert: one durable INSERT of the request body, no sign-in, no CSRF. On SQLite into a database of
  its own in that folder (same pragmas as the app: WAL, synchronous=FULL, BEGIN IMMEDIATE); on PostgreSQL into a
  table of its own in the app's database (one server, one write-ahead log either way), through psycopg on a
  connection of a pool as large as the app's: BEGIN, INSERT, COMMIT, as the app's writes go;
- GET /bench/empty: an empty Leaflet page (the vendored Leaflet, one map, no data).
"""
import os
import threading

from flask import Response, request, send_from_directory

from fieldapp import create_app as create_fieldapp
from fieldapp.data import db as database

EMPTY_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/static/vendor/leaflet-1.9.4/leaflet.css">
<script src="/static/vendor/leaflet-1.9.4/leaflet.js" defer></script><script src="/bench/empty.js" defer></script>
</head><body><div id="map" style="height: 600px"></div></body></html>"""
EMPTY_SCRIPT = """var map = L.map("map").setView([30.28, 120.1], 14);
window.__readyAt = performance.now();
document.body.dataset.ready = "true";"""
INSERTS_SCHEMA = "CREATE TABLE IF NOT EXISTS inserts (id INTEGER PRIMARY KEY, uuid TEXT UNIQUE, body TEXT)"
PG_INSERTS_SCHEMA = ("CREATE TABLE IF NOT EXISTS bench_inserts "
                     "(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, uuid text UNIQUE, body text)")


def sqlite_insert(folder):
    """The bare durable INSERT into a SQLite database of its own in folder."""
    local = threading.local()
    bare_db = os.path.join(folder, "bare-inserts.db")
    setup = database.connect(bare_db)
    setup.execute(INSERTS_SCHEMA)
    setup.close()

    def insert(uuid, body):
        if not hasattr(local, "db"):  # one connection per thread, opened once: the barest durable write
            local.db = database.connect(bare_db)
        with database.write(local.db):
            local.db.execute("INSERT INTO inserts (uuid, body) VALUES (?, ?)", [uuid, body])
    return insert


def postgres_insert(url):
    """The bare durable INSERT into a table of its own on the PostgreSQL server at url, through psycopg."""
    import psycopg
    from psycopg_pool import ConnectionPool

    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute(PG_INSERTS_SCHEMA)
    pools, lock = {}, threading.Lock()  # a pool per process: gunicorn forks its workers after loading the app

    def insert(uuid, body):
        with lock:
            pool = pools.get(os.getpid())
            if pool is None:
                pool = pools[os.getpid()] = ConnectionPool(url, min_size=1, max_size=8, open=True,
                                                           kwargs={"autocommit": True})
        with pool.connection() as conn, conn.transaction():
            conn.execute("INSERT INTO bench_inserts (uuid, body) VALUES (%s, %s)", [uuid, body])
    return insert


def add_baselines(app, folder):
    """Add the baseline routes to app; their files (and the SQLite baseline's database) live in folder."""
    pages = {}
    target = app.config["DATABASE"]
    durable_insert = postgres_insert(target) if database.is_postgres(target) else sqlite_insert(folder)

    def bare(name):
        if name not in pages:
            with open(os.path.join(folder, name), "rb") as page:
                pages[name] = page.read()
        return Response(pages[name], mimetype="text/html")

    def file(name):
        response = send_from_directory(folder, name, mimetype="application/geo+json")
        response.headers["Content-Encoding"] = "gzip"
        return response

    def insert():
        durable_insert(request.headers["X-Id"], request.get_data(as_text=True))
        return {"status": "created"}, 201

    app.add_url_rule("/bench/bare/<name>", "bench_bare", bare)
    app.add_url_rule("/bench/file/<name>", "bench_file", file)
    app.add_url_rule("/bench/insert", "bench_insert", insert, methods=["POST"])
    app.add_url_rule("/bench/empty", "bench_empty", lambda: EMPTY_PAGE)
    app.add_url_rule("/bench/empty.js", "bench_empty_js", lambda: Response(EMPTY_SCRIPT, mimetype="text/javascript"))
    app.extensions["csrf"].exempt(insert)
    return app


def create_app():
    """The app as gunicorn serves it (FIELDAPP_* from the environment), with the baselines."""
    return add_baselines(create_fieldapp(), os.environ["FIELDAPP_BENCH_DIR"])
