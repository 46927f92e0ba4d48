"""The installable app: the web manifest, the service worker at the root scope, the offline page."""
import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, url_for
from flask_babel import gettext as _

bp = Blueprint("pwa", __name__)

# The app shell: what the service worker keeps so that pages open without signal.
SHELL = [
    "css/app.css", "js/app.js", "js/offline-queue.js", "js/offline-copy.js", "js/offline-ui.js", "js/visit-form.js",
    "js/nearest.js", "vendor/htmx-2.0.11.min.js", "vendor/idb-8.0.4.umd.js", "icons/icon.svg", "icons/icon-192.png",
]


@lru_cache(maxsize=1)
def shell_version(static_folder):
    """A version of the shell from its files' contents: a changed file means a new precache."""
    digest = hashlib.sha256()
    for name in SHELL + ["js/sw.js"]:
        digest.update((Path(static_folder) / name).read_bytes())
    return digest.hexdigest()[:12]


@bp.route("/sw.js")
def service_worker():
    """The service worker, served from the root so that its scope is the whole app."""
    source = (Path(current_app.static_folder) / "js" / "sw.js").read_text(encoding="utf-8")
    shell = [url_for("static", filename=name) for name in SHELL] + [url_for("pwa.offline")]
    source = (source.replace("__VERSION__", shell_version(current_app.static_folder))
                    .replace('"__SHELL__"', ", ".join(f'"{url}"' for url in shell)))
    response = current_app.response_class(source, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
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
        "id": "/", "start_url": url_for("index"), "scope": "/", "display": "standalone",
        "theme_color": "#b71c1c", "background_color": "#f6f5f2", "icons": icons,
    })
    response.mimetype = "application/manifest+json"
    return response


@bp.route("/offline")
def offline():
    """The page shown when a page is neither reachable nor kept on the phone."""
    return render_template("offline.html", title=_("Offline"))
