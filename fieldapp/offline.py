"""The phone's offline copy: which pages it holds, the copy token, and what the service worker may keep.

The server alone decides both what is audited and what is kept. A copy starts with the offline manifest, which
logs one `offline_copy` entry naming its households and hands out a copy token bound to that entry and to the
session; a household page fetched with that token is covered by the entry and not logged again. Pages the copy
needs are marked `X-Offline-Keep` with the session they were made for, and the service worker keeps nothing else:
a member's copy may also keep the thumbnails of their households' photos (listed in the manifest), never a full
photo.
"""
import hashlib
import hmac

from flask import current_app, request, url_for
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer

from fieldapp import access, security
from fieldapp.data import audit, households
from fieldapp.data import photos as photo_data

COPY_HEADER = "X-Offline-Copy"      # the copy token, sent with each page the copy fetches (never in the URL)
KEEP_HEADER = "X-Offline-Keep"      # "1": the service worker may keep this answer for offline use
SESSION_HEADER = "X-Offline-Session"  # the session the kept answer belongs to (as /api/session names it)
COPY_SECONDS = 15 * 60              # a copy token's life: long enough for a member's copy over a weak signal
# The pages of a copy: the list for everyone, each household's page and visit form for members.
MEMBER_PAGES = {"households.show", "visits.new"}
LIST_PAGE = "households.mine"


def init_app(app):
    """Mark the answers the offline copy may keep."""
    app.after_request(mark_keepable)


def session_key(user):
    """An opaque name of user's session (account, epoch, sign-in time): it changes when the session does."""
    secret = current_app.secret_key.encode() if isinstance(current_app.secret_key, str) else current_app.secret_key
    return hmac.new(secret, f"offline-session:{user.get_id()}".encode(), hashlib.sha256).hexdigest()[:32]


def _serializer():
    """The signer of copy tokens (the app's secret, a salt of their own)."""
    return URLSafeSerializer(current_app.secret_key, salt="offline-copy")


def copy_pages(db, user):
    """The urls of user's offline copy and the ids of the households it holds."""
    ids = list(households.ids_in_cells(db, access.cell_scope(db, user))) if user.role == "member" else []
    urls = [url_for(LIST_PAGE)]
    for household_id in ids:
        urls.append(url_for("households.show", household_id=household_id))
        urls.append(url_for("visits.new", household_id=household_id))
    return urls, ids


def make_copy(db, user, ip):
    """Log one offline copy of user's pages and return its manifest: urls, households, token, session."""
    urls, ids = copy_pages(db, user)
    entry_id = audit.log(db, user_id=user.id, action="offline_copy", detail={"pages": len(urls), "households": ids},
                         ip=ip)
    key = session_key(user)
    token = _serializer().dumps({"session": key, "entry": entry_id, "issued": security.now_seconds()})
    thumbnails = [url_for("photos.thumb", photo_id=photo_id) for photo_id in photo_data.of_households(db, ids)]
    return {"urls": urls, "households": ids, "token": token, "session": key, "thumbnails": thumbnails}


def copy_covers(db, user, token, household_id):
    """Whether token is a live copy token of user's session whose logged copy names household_id."""
    if not token:
        return False
    try:
        claims = _serializer().loads(token)
    except BadSignature:
        return False
    if not isinstance(claims, dict) or not isinstance(claims.get("entry"), int):
        return False
    if not hmac.compare_digest(str(claims.get("session")), session_key(user)):
        return False
    age = security.now_seconds() - claims.get("issued", 0) if isinstance(claims.get("issued"), int) else -1
    if not 0 <= age <= COPY_SECONDS:
        return False
    return household_id in audit.offline_copy_households(db, claims["entry"], user.id)


def keepable():
    """Whether the answer to this request is a page of the signed-in user's offline copy."""
    if request.method != "GET" or request.query_string or request.headers.get("HX-Request"):
        return False
    if request.endpoint == LIST_PAGE:
        return True
    return request.endpoint in MEMBER_PAGES and current_user.role == "member"


def mark_keepable(response):
    """Tell the service worker which answers it may keep, and for which session; it keeps nothing else."""
    if response.status_code != 200 or not current_user.is_authenticated or "Content-Disposition" in response.headers:
        return response
    page = response.mimetype == "text/html" and keepable()
    thumbnail = request.endpoint == "photos.thumb" and current_user.role == "member"  # one the member may see
    if page or thumbnail:
        response.headers[KEEP_HEADER] = "1"
        response.headers[SESSION_HEADER] = session_key(current_user)
    return response
