"""Browser tests: the real app on a demo database, served on 127.0.0.1, driven in Debian's chromium."""
import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from fieldapp import create_app
from fieldapp.data import db as database
from tests import engines

CHROMIUM = "/usr/bin/chromium"
# As root in a closed network: no sandbox, and none of chromium's own background connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEMO_TODAY = None  # the demo is built relative to the real today, as `make run` does


def pytest_collection_modifyitems(config, items):
    """Mark every test here as a browser test; without chromium, fail in CI and skip elsewhere."""
    here = os.path.dirname(__file__)
    browser_items = [item for item in items if str(item.fspath).startswith(here)]
    for item in browser_items:
        item.add_marker(pytest.mark.browser)
    if engines.POSTGRES:  # what no engine can change is judged once, on SQLite
        once = [item for item in items if item.get_closest_marker("one_engine")]
        if once:
            config.hook.pytest_deselected(items=once)
            items[:] = [item for item in items if not item.get_closest_marker("one_engine")]
            browser_items = [item for item in browser_items if item in items]
    if browser_items and not os.path.exists(CHROMIUM):
        if os.environ.get("CI") or os.environ.get("FIELDAPP_REQUIRE_BROWSER"):
            raise pytest.UsageError(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium).")
        for item in browser_items:
            item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)"))


# The browser tests' community: the demo's places, people and history at 800 households, where member1 holds
# 81 households instead of the default's 202. Each offline copy fetches every household's two pages, and the
# offline tests make several: the copy's time at the full size is bench/pwa_bench.py's to measure.
DEMO_HOUSEHOLDS = 800


@pytest.fixture(scope="session")
def demo_template(engine):
    """A demo community database, built once per test session."""
    from fieldapp import demo

    return engines.template(engine, "fieldapp_demo", lambda db: demo.build(db, households=DEMO_HOUSEHOLDS))


class LiveServer:
    """The app served by werkzeug in a thread, on a free port of 127.0.0.1; it can go down and up."""

    def __init__(self, app):
        self.app = app
        self.port = 0
        self.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self):
        """Serve (again, on the same port)."""
        self.server = make_server("127.0.0.1", self.port, app=self.app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def db(self):
        """A fresh connection to the served database, to arrange and check data."""
        return database.connect(self.app.config["DATABASE"])

    def stop(self):
        """Stop serving and free the port: to the phone the server is out of reach."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def live_server(engine, demo_template):
    """A server on a private copy of the demo database (one per test module)."""
    target = engine.fresh(demo_template)
    photos = engines.scratch_dir("fieldapp-photos-")  # never the instance folder's store
    server = LiveServer(create_app({"DATABASE": target, "SECRET_KEY": "browser tests", "PHOTOS": photos}))
    yield server
    server.stop()
    engine.drop(target)
    shutil.rmtree(photos, ignore_errors=True)


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def phone(browser, playwright_instance, live_server):
    """A page in an Android phone's viewport (Pixel 5), Chinese locale, location allowed at the demo."""
    device = playwright_instance.devices["Pixel 5"]
    context = browser.new_context(**device, locale="zh-CN", base_url=live_server.url,
                                  permissions=["geolocation"], geolocation={"latitude": 30.28, "longitude": 120.1})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, username, password="demo1234", *, succeeds=True):
    """Sign in through the form, as a person would (and, if it succeeds, wait for the page after it)."""
    page.goto("/auth/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    if succeeds:
        page.wait_for_url(lambda url: "/auth/login" not in url)


def wait_for_service_worker(page, timeout=60_000):
    """Wait until the service worker controls page (generous: the machine may be busy).

    The worker claims the open page when it activates; should that page have missed the claim, a
    reload (as a person would do) brings it under the worker's control.
    """
    page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.ready.then(() => true)",
                           timeout=timeout)
    if page.evaluate("() => navigator.serviceWorker.controller === null"):
        page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=timeout)
