"""Bytes a member's phone transfers: first load, repeat load with the service worker warm, and the size
of the offline copy, for the member with ~300 households on the 100,000-household demo.

    .venv/bin/python bench/pwa_bench.py
"""
import logging
import re
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.serving import make_server  # noqa: E402

from bench.common import big_database  # noqa: E402
from bench.visit_loop_bench import member_near  # noqa: E402
from fieldapp import create_app  # noqa: E402
from fieldapp.data import db as database  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


class CountingMiddleware:
    """Counts the bytes of every response body the server sends, by path (compressed where it compresses)."""

    def __init__(self, app):
        self.app, self.sent = app, []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        for chunk in self.app(environ, start_response):
            self.sent.append((path, len(chunk)))
            yield chunk


OFFLINE_COPY = re.compile(r"^/households/\d+(/visits/new)?$|^/api/offline-manifest$")


def measure(path):
    """Bytes sent to the member with ~300 households (or the most there are): a dict of the figures."""
    from playwright.sync_api import sync_playwright

    username, count = member_near(database.connect(path))
    app = create_app({"DATABASE": path, "SECRET_KEY": "bench"})
    counter = CountingMiddleware(app.wsgi_app)
    app.wsgi_app = counter
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per page of the offline copy
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(**playwright.devices["Pixel 5"], locale="zh-CN", base_url=base)
        page = context.new_page()
        page.goto("/auth/login")
        page.fill("#username", username)
        page.fill("#password", "demo1234")
        page.click("button[type=submit]")
        page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null",
                               timeout=120_000)
        page.wait_for_function("() => document.getElementById('offline-status').dataset.preparedAt", timeout=300_000)
        first = sum(n for p, n in counter.sent if not OFFLINE_COPY.match(p))
        copy = sum(n for p, n in counter.sent if OFFLINE_COPY.match(p))
        pages = page.evaluate("caches.open('fieldapp-pages').then(c => c.keys())"  # the session entry is no page
                              ".then(k => k.filter(r => new URL(r.url).pathname !== '/offline-copy/session').length)")
        counter.sent.clear()
        page.reload()
        page.wait_for_load_state("networkidle")
        repeat = sum(n for _, n in counter.sent)
        repeat_paths = sorted({p for p, _ in counter.sent})
        list_html = page.content().encode()
        browser.close()
    server.shutdown()
    return {"member": username, "households": count, "first_bytes": first, "repeat_bytes": repeat,
            "repeat_paths": repeat_paths, "list_html_bytes": len(list_html), "offline_pages": pages,
            "offline_bytes": copy}


def main():
    figures = measure(big_database())
    print(f"member {figures['member']} with {figures['households']} households; bytes of response bodies sent "
          "by the server")
    print(f"first load (sign-in page, sign-in, list, app shell precache): {figures['first_bytes'] / 1024:.1f} KB")
    print(f"repeat load of the list, service worker warm: {figures['repeat_bytes'] / 1024:.1f} KB "
          f"({', '.join(figures['repeat_paths'])}); the list's HTML is {figures['list_html_bytes'] / 1024:.0f} KB "
          "before compression")
    print(f"offline copy: {figures['offline_pages']} pages kept, {figures['offline_bytes'] / 1024 / 1024:.2f} MB "
          "fetched")


if __name__ == "__main__":
    main()
