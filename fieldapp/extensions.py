"""The Flask extensions bound once for the whole app: CSRF protection, htmx request details, compression."""
from flask_compress import Compress
from flask_htmx import HTMX
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
htmx = HTMX()
compress = Compress()
# One bar of signal: a member's list of 300 households is 130 KB of HTML, 7 KB gzipped.
COMPRESSED = ["text/html", "text/css", "text/javascript", "application/javascript", "application/json",
              "application/geo+json", "application/manifest+json", "image/svg+xml", "text/csv"]


def init_app(app):
    """Bind CSRF protection, htmx and compression (br, then gzip) to app."""
    csrf.init_app(app)
    htmx.init_app(app)
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    compress.init_app(app)
