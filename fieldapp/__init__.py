"""Zero Distance (零距离): the app factory."""
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask

from fieldapp import (accountability, accounts, admin, api, assignments, auth, cli, coverage, db, errors,
                      extensions, households, i18n, inputs, ledger, offline, photos, posters, privacy, pwa,
                      reminders, report, review, security, service, settings, templating, triage, visits)
from fieldapp import map as map_area
from fieldapp import hotline, partners, register, reports
from fieldapp.config import DEFAULTS, ROOT, from_environment
from fieldapp.data import db as database

# Every area's blueprint, in the order their routes and their app-wide hooks are registered.
BLUEPRINTS = [auth.bp, households.bp, visits.bp, api.bp, pwa.bp, coverage.bp, ledger.bp, accountability.bp,
              settings.bp, admin.bp, accounts.bp, assignments.bp, map_area.bp, privacy.bp,
              register.bp, review.bp, photos.bp, hotline.bp, partners.bp, report.bp, posters.bp,
              triage.bp, service.bp, reminders.bp, reports.bp]


class App(Flask):
    """Flask, with the app's template environment: its documented hook, not an attribute changed at start."""

    jinja_environment = templating.Environment


def _secret_key(instance_path):
    """Return the instance's secret key, generating and keeping one on first start."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(test_config=None):
    """Create the app: defaults, then the environment, then test_config."""
    app = App(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.url_map.converters["int"] = inputs.RecordId  # before any route: an id past SQLite's INTEGER is a 404
    app.config.from_mapping(DEFAULTS)
    app.config.update(from_environment())
    if test_config:
        app.config.update(test_config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)
    app.config.update(
        SESSION_PROTECTION="basic",  # phones hop between Wi-Fi and 4G
        REMEMBER_COOKIE_DURATION=timedelta(days=30),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=app.config["CSRF_HOURS"] * 3600,
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
    )

    # Migrate once at start: an older database upgrades before the first request.
    database.connect(app.config["DATABASE"], migrate=True).close()

    # In this order: the hooks run in it (after-request hooks in reverse), and the body limit of security
    # comes before CSRF protection reads a form.
    for module in (security, extensions, db, templating, i18n, auth, errors, cli, offline):
        module.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.add_url_rule("/", "index", auth.landing)
    return app
