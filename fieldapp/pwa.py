"""The installable app: the web manifest, the service worker at the root scope, the offline page.

offline_config() is the one place that names the caches and the URLs the offline scripts use: the service
worker gets it in its source, the pages in base.html (read by static/js/offline-config.js).
"""
import hashlib
import json
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, url_for
from flask_babel import gettext as _

from fieldapp import offline as offline_copy

bp = Blueprint("pwa", __name__)

SCOPE = "/"  # the service worker's scope: the whole app
PAGES_CACHE = "fieldapp-pages"  # the offline copy's pages (static/js/offline-copy.js)
SESSION_ENTRY = "/offline-copy/session"  # the kept pages' entry naming the session they belong to (no route)
SHELL_CACHE = "fieldapp-shell-"  # the app shell, followed by its version: older shells are deleted
SYNC_TAG = "send-visits"  # the Background Sync that sends the queued visits

# The app shell: what the service worker keeps so that pages open without signal.
SHELL = [
    "css/app.css", "js/app.js", "js/offline-queue.js", "js/offline-copy.js", "js/offline-ui.js", "js/visit-form.js",
    "js/nearest.js", "js/photos.js", "js/offline-config.js", "vendor/htmx-2.0.11.min.js", "vendor/idb-8.0.4.umd.js", "icons/icon.svg",
    "icons/icon-192.png",
    "js/map-start.js", "js/map-worker.js", "vendor/supercluster-8.0.1.min.js",  # the map's worker: no round trips
]
WORKER_SCRIPTS = ["vendor/idb-8.0.4.umd.js", "js/offline-queue.js", "js/offline-copy.js"]  # sw.js's importScripts


@lru_cache(maxsize=1)
def shell_version(static_folder):
    """A version of the shell from its files' contents: a changed file means a new precache."""
    digest = hashlib.sha256()
    for name in SHELL + ["js/sw.js"]:
        digest.update((Path(static_folder) / name).read_bytes())
    return digest.hexdigest()[:12]


@bp.app_template_global()
def offline_config():
    """The cache names, URLs and headers the offline scripts of the pages and of the service worker share."""
    return {"scope": SCOPE, "serviceWorker": url_for("pwa.service_worker"), "pagesCache": PAGES_CACHE,
            "syncTag": SYNC_TAG, "session": url_for("api.session"), "visits": url_for("api.sync_visits"),
            "photos": url_for("api.upload_photo"),
            "manifest": url_for("api.offline_manifest"), "offline": url_for("pwa.offline"),
            "signIn": url_for("auth.login"), "signOut": url_for("auth.logout"),
            "copyHeader": offline_copy.COPY_HEADER, "keepHeader": offline_copy.KEEP_HEADER,
            "sessionHeader": offline_copy.SESSION_HEADER, "sessionEntry": SESSION_ENTRY}


def worker_config():
    """What the service worker alone needs besides: its shell and its caches, the scripts it loads, its paths."""
    version = shell_version(current_app.static_folder)
    return {**offline_config(), "shellCache": SHELL_CACHE + version, "shellCachePrefix": SHELL_CACHE,
            "shell": [url_for("static", filename=name) for name in SHELL] + [url_for("pwa.offline")],
            "scripts": [url_for("static", filename=name) for name in WORKER_SCRIPTS],
            "staticPrefix": current_app.static_url_path + "/",
            "apiPrefix": current_app.blueprints["api"].url_prefix + "/",
            "photosPrefix": current_app.blueprints["photos"].url_prefix + "/"}


@bp.route("/sw.js")
def service_worker():
    """The service worker, served from the root so that its scope is the whole app."""
    source = (Path(current_app.static_folder) / "js" / "sw.js").read_text(encoding="utf-8")
    source = source.replace("__CONFIG__", json.dumps(worker_config(), ensure_ascii=False, indent=1))
    response = current_app.response_class(source, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = SCOPE
    return response


@bp.route("/manifest.webmanifest")
def manifest():
    """The web app manifest: name, icons, start page, standalone display."""
    icons = [
        {"src": url_for("static", filename="icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": url_for("static", filename="icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        {"src": url_for("static", filename="icons/icon-maskable-512.png"), "sizes": "512x512", "type": "image/png",
         "purpose": "maskable"},
    ]
    response = jsonify({
        "name": "零距离", "short_name": "零距离", "lang": "zh-CN", "dir": "ltr",
        "description": "党员走访住户、记录诉求的工具",
        "id": "/", "start_url": url_for("index"), "scope": SCOPE, "display": "standalone",
        "theme_color": "#b71c1c", "background_color": "#f6f5f2", "icons": icons,
    })
    response.mimetype = "application/manifest+json"
    return response


@bp.route("/offline")
def offline():
    """The page shown when a page is neither reachable nor kept on the phone."""
    return render_template("offline.html", title=_("Offline"))
