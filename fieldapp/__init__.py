"""Zero Distance (零距离): the app factory."""
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask

from fieldapp import inputs
from fieldapp.data import db as database

ROOT = Path(__file__).resolve().parent.parent

# Every setting, its default and its type; FIELDAPP_<NAME> in the environment overrides it.
DEFAULTS = {
    "DATABASE": str(ROOT / "instance" / "fieldapp.db"),
    "SECRET_KEY": "",
    "TILES": "none",  # tianditu | gaode | osm | none
    "TIANDITU_KEY": "",
    "TIMEZONE": "Asia/Shanghai",
    "LOCATION_MAX_DISTANCE_M": 150,
    "LOCATION_MAX_ACCURACY_M": 100,
    "AMEND_HOURS": 24,
    "CSRF_HOURS": 12,  # a member may keep a form open through a long morning of visits
    "BEHIND_PROXY": False,
}


def _from_environment():
    """Read FIELDAPP_* variables, cast to the type of each default."""
    found = {}
    for name, default in DEFAULTS.items():
        raw = os.environ.get(f"FIELDAPP_{name}")
        if raw is None:
            continue
        if isinstance(default, bool):
            found[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int):
            found[name] = int(raw)
        else:
            found[name] = raw
    return found


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
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.url_map.converters["int"] = inputs.RecordId  # before any route: an id past SQLite's INTEGER is a 404
    app.config.from_mapping(DEFAULTS)
    app.config.update(_from_environment())
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
    database.connect(app.config["DATABASE"], migrate=True).conn.close()

    from fieldapp import auth, cli, errors, i18n, web

    web.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    cli.init_app(app)

    from fieldapp import admin, api, coverage, households, offline, pwa, visits

    app.register_blueprint(auth.bp)
    app.register_blueprint(households.bp)
    app.register_blueprint(visits.bp)
    app.register_blueprint(api.bp)
    offline.init_app(app)
    app.register_blueprint(pwa.bp)
    app.register_blueprint(coverage.bp)
    from fieldapp import accountability, ledger, settings  # issue 6: ledger, overdue, settings
    for blueprint in (ledger.bp, accountability.bp, settings.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin.bp)
    from fieldapp import accounts, assignments

    accounts.init_app(app)  # with the redirect of users who must change their password
    app.register_blueprint(assignments.bp)
    from fieldapp import map as map_area  # issue 5: the grid leader's map

    app.register_blueprint(map_area.bp)
    from fieldapp import privacy  # issue 8: audit search, resident export, retention; logs household views

    app.register_blueprint(privacy.bp)
    app.add_url_rule("/", "index", auth.landing)
    return app
