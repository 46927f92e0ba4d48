"""Map figures on the 100,000-household demo.

    .venv/bin/python bench/map_bench.py [--runs 20] [--no-browser] [--with-status]

Printed, for the admin (the whole district) and for leader1 (one grid):
- the map data's bytes per household, raw and gzipped (goal: at most 8 gzipped bytes);
- server time of GET /map/data.geojson through the app's test client, p50 over --runs: cold (built from
  the database: aggregate query, encoding, gzip) and warm (cached until the data changes), next to the same
  gzipped bytes sent as a file by the same app (goal: warm at most 2x the file);
- with a browser (Debian chromium, headless) against the app under gunicorn: time from navigation to the
  map drawn with its data (#map-frame[data-ready]) next to an empty Leaflet page of the same app, p50 of
  repeated visits (goal: at most 3x) and the first visit, nothing cached yet (goal: at most 5x).
--with-status also times households.with_status over the district, the per-household query the map avoids.
"""
import argparse
import contextlib
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Response, send_from_directory  # noqa: E402

from bench.baseline import EMPTY_PAGE, EMPTY_SCRIPT  # noqa: E402
from bench.common import ROOT, big_database, signed_in_client, timings  # noqa: E402
from fieldapp import create_app  # noqa: E402
from fieldapp import map as map_area  # noqa: E402
from fieldapp.data import db as database  # noqa: E402
from fieldapp.data import households, mapdata  # noqa: E402

# Notes the moment map.js marks the map drawn (injected by the browser, so the CSP does not apply).
READY_WATCH = """new MutationObserver(function () {
  var frame = document.getElementById("map-frame");
  if (frame && frame.dataset.ready === "true" && !window.__readyAt) window.__readyAt = performance.now();
}).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-ready"]});"""


def bench_app(path, folder):
    """The real app, plus an empty Leaflet page and a file route of its own for comparison."""
    app = create_app({"DATABASE": path, "SECRET_KEY": "bench"})
    app.add_url_rule("/bench/empty", "bench_empty", lambda: EMPTY_PAGE)
    app.add_url_rule("/bench/empty.js", "bench_empty_js",
                     lambda: Response(EMPTY_SCRIPT, mimetype="text/javascript"))

    def static_file(name):
        response = send_from_directory(folder, name, mimetype="application/json")
        response.headers["Content-Encoding"] = "gzip"
        return response

    app.add_url_rule("/bench/files/<name>", "bench_file", static_file)
    return app


def server_figures(app, folder, username, runs):
    """Bytes per household and server times of the map data for username."""
    client = signed_in_client(app, username)
    zipped = {"Accept-Encoding": "gzip"}
    body = client.get("/map/data.geojson", headers=zipped).data
    raw = gzip.decompress(body)
    count = json.loads(raw)["households"]
    name = f"{username}-map.json"
    Path(folder, name).write_bytes(body)
    assert client.get(f"/bench/files/{name}").data == body

    def cold():
        map_area._payloads.clear()
        client.get("/map/data.geojson", headers=zipped)

    cold_p50, _ = timings(cold, max(5, runs // 4))
    warm_p50, _ = timings(lambda: client.get("/map/data.geojson", headers=zipped), runs)
    file_p50, _ = timings(lambda: client.get(f"/bench/files/{name}"), runs)
    print(f"{username}: {count} households, {len(raw)} bytes raw ({len(raw) / count:.1f} per household), "
          f"{len(body)} gzipped ({len(body) / count:.2f} per household)")
    print(f"  server p50: cold {cold_p50:.1f} ms, warm {warm_p50:.2f} ms, same bytes as a file {file_p50:.2f} ms "
          f"-> warm/file {warm_p50 / file_p50:.2f}x, cold/file {cold_p50 / file_p50:.1f}x")


def served_app():
    """The bench app as gunicorn serves it (FIELDAPP_DATABASE from the environment)."""
    return bench_app(os.environ["FIELDAPP_DATABASE"], tempfile.mkdtemp(prefix="map-bench-"))


@contextlib.contextmanager
def gunicorn(path):
    """The app with its empty Leaflet page under gunicorn on 127.0.0.1, as `make run` starts it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null",
         "bench.map_bench:served_app()"],
        cwd=ROOT, env={**os.environ, "FIELDAPP_DATABASE": path, "PORT": str(port)})
    try:
        for _ in range(300):
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def browser_figures(base, username, runs):
    """Time to the drawn map of username next to an empty Leaflet page, in headless chromium; printed, and
    returned as (map p50 ms, first visit ms, empty page p50 ms)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", base_url=base)
        context.add_init_script(READY_WATCH)
        page = context.new_page()
        page.goto("/auth/login")
        page.fill("#username", username)
        page.fill("#password", "demo1234")
        page.click("button[type=submit]")
        page.wait_for_load_state()

        def visit(url, ready):
            page.goto(url)
            page.wait_for_selector(ready, state="attached", timeout=60_000)  # not a polled function: CSP
            return page.evaluate("window.__readyAt")

        map_ready, empty_ready = "#map-frame[data-ready=true]", "body[data-ready=true]"
        first = visit("/map/", map_ready)
        maps = [visit("/map/", map_ready) for _ in range(runs)]
        empties = [visit("/bench/empty", empty_ready) for _ in range(runs)]
        browser.close()
    map_p50, empty_p50 = statistics.median(maps), statistics.median(empties)
    print(f"  chromium: map drawn {map_p50:.0f} ms p50 (first visit: {first:.0f} ms), empty Leaflet page "
          f"{empty_p50:.0f} ms -> {map_p50 / empty_p50:.2f}x (first visit {first / empty_p50:.1f}x)")
    return map_p50, first, empty_p50


def status_figures(path):
    """households.with_status over the district next to the map's aggregate query."""
    db = database.connect(path)
    clock = {"today": time.strftime("%Y-%m-%d"), "offset": "+480 minutes", "default_cycle": 30}
    started = time.perf_counter()
    mapdata.point_groups(db, clock)
    aggregate = time.perf_counter() - started
    started = time.perf_counter()
    households.with_status(db, clock)
    per_household = time.perf_counter() - started
    print(f"district statuses: map aggregate {aggregate:.2f} s, households.with_status {per_household:.1f} s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--with-status", action="store_true")
    args = parser.parse_args()
    path = big_database()
    folder = tempfile.mkdtemp(prefix="map-bench-")
    app = bench_app(path, folder)
    print(f"database {path}, {os.cpu_count()} cores, FIELDAPP_TILES={app.config['TILES']}")
    for username in ("admin", "leader1"):
        server_figures(app, folder, username, args.runs)
    if not args.no_browser:
        print("gunicorn (gunicorn.conf.py: 2 workers x 4 threads), headless chromium, desktop viewport:")
        with gunicorn(path) as base:
            for username in ("admin", "leader1"):
                print(f"{username}:")
                browser_figures(base, username, max(5, args.runs // 2))
    if args.with_status:
        status_figures(path)


if __name__ == "__main__":
    main()
