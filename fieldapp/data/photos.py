"""Photo evidence: an upload checked for what it is, re-encoded without its metadata, kept in the photo store
with a thumbnail, and recorded for its visit, resolution or resident's report; waiting (pending, never shown)
while its record has not arrived; the queries that show photos and the clean-up of those whose record never came.
"""
import io
import warnings
from dataclasses import dataclass
from datetime import timedelta

from PIL import Image, ImageOps, UnidentifiedImageError

from fieldapp import rules
from fieldapp.data import ledger
from fieldapp.data.db import in_clause, insert, one, rows, scalar, write
from fieldapp.photostore import sha256

MAX_BYTES = 15 * 1024 * 1024  # an upload's file; a camera's original JPEG is 4-12 MB
MAX_PER_RECORD = 6
LONG_EDGE = 1600
THUMB_EDGE = 320
QUALITY = 75
THUMB_QUALITY = 70
PENDING_DAYS = 1  # a photo whose record has not come after a day is deleted
KINDS = ("visit", "resolution", "report")
# The formats a phone's camera or gallery gives (the browser turns HEIC into JPEG when it shrinks the photo);
# no other decoder of Pillow's sees an upload.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")  # a phone's multi-picture JPEG (MPO) opens as JPEG
SHOWN = "p.id, p.caption, p.width, p.height, p.taken_at, p.uploaded_at, p.kind, p.visit_id, p.request_id"


class PhotoRefused(Exception):
    """An upload that is not kept; reason: not_image, too_large, too_many_pixels, too_many, mismatch."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Prepared:
    """A photo re-encoded for keeping, with its thumbnail."""
    data: bytes
    sha256: str
    width: int
    height: int
    thumb: bytes
    thumb_sha256: str


def _jpeg(image, quality):
    """image as JPEG bytes, nothing of its metadata (EXIF, GPS, ICC, comments) carried over."""
    image.info.clear()
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def prepare(raw):
    """Decode raw with Pillow (its name and type are not trusted), turn it upright, shrink it to LONG_EDGE and
    re-encode it as JPEG without metadata, with a thumbnail. Raises PhotoRefused."""
    if len(raw) > MAX_BYTES:
        raise PhotoRefused("too_large")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it: any image past the limit is refused.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=FORMATS)
            width, height = image.size
            if width * height > Image.MAX_IMAGE_PIXELS:  # read from the header, before a pixel is decoded
                raise PhotoRefused("too_many_pixels")
            scale = min(1, LONG_EDGE / max(width, height))
            # A JPEG decodes straight at 1/2, 1/4 or 1/8 of its size when that is still larger than the target.
            image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
            image.thumbnail((LONG_EDGE, LONG_EDGE), Image.Resampling.LANCZOS)
            image = ImageOps.exif_transpose(image)  # after shrinking: the box is square, turning it costs less
            if image.mode not in ("RGB", "L"):
                flat = Image.new("RGB", image.size, "white")  # transparency on white, not on black
                converted = image.convert("RGBA")
                flat.paste(converted, mask=converted.getchannel("A"))
                image = flat
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRefused("too_many_pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, TypeError):
        raise PhotoRefused("not_image") from None
    data = _jpeg(image, QUALITY)
    thumb = image.copy()
    thumb.thumbnail((THUMB_EDGE, THUMB_EDGE), Image.Resampling.LANCZOS)
    thumb_data = _jpeg(thumb, THUMB_QUALITY)
    return Prepared(data, sha256(data), image.width, image.height, thumb_data, sha256(thumb_data))


def known(db, record_uuid, client_sha256):
    """The photo already sent with these bytes for this record, or None."""
    return one(db, "SELECT id, state, user_id FROM photos WHERE record_uuid = ? AND client_sha256 = ?",
               [record_uuid, client_sha256])


def count_for_record(db, record_uuid):
    """How many photos a record has (waiting or attached)."""
    return scalar(db, "SELECT count(*) FROM photos WHERE record_uuid = ?", [record_uuid])


def add(db, store, prepared, *, kind, record_uuid, client_sha256, user_id, now, caption=None, taken_at=None,
        visit_id=None, request_id=None, request_event_id=None):
    """Keep a prepared photo and record it (in the caller's transaction if there is one): attached when its record
    is given (a visit, a resolution step, or for a report its request), else pending. Returns (status, id,
    attached); raises PhotoRefused("too_many") for a record that has MAX_PER_RECORD photos."""
    attached = visit_id is not None or request_event_id is not None or (kind == "report" and request_id is not None)
    with write(db):
        found = known(db, record_uuid, client_sha256)
        if found:
            return "existing", found["id"], found["state"] == "attached"
        if count_for_record(db, record_uuid) >= MAX_PER_RECORD:
            raise PhotoRefused("too_many")
        store.put(prepared.data)
        store.put(prepared.thumb)
        photo_id = insert(db, "photos", {
            "record_uuid": record_uuid, "client_sha256": client_sha256, "sha256": prepared.sha256,
            "bytes": len(prepared.data), "width": prepared.width, "height": prepared.height,
            "thumb_sha256": prepared.thumb_sha256, "caption": caption, "kind": kind,
            "state": "attached" if attached else "pending", "user_id": user_id, "uploaded_at": rules.iso(now),
            "taken_at": taken_at, "visit_id": visit_id, "request_id": request_id,
            "request_event_id": request_event_id}, unless="record_uuid, client_sha256")
        if photo_id is None:  # the same upload committed meanwhile on another connection
            found = known(db, record_uuid, client_sha256)
            return "existing", found["id"], found["state"] == "attached"
    return "created", photo_id, attached


def accept(db, store, raw, *, user_id, record, record_uuid, client_sha256, now, caption=None, taken_at=None,
           visit_id=None, request_id=None, request_event_id=None):
    """Take one uploaded photo for a record whose place the caller has found and checked (visit_id, request_id,
    request_event_id; none yet: the photo waits for its record). Returns (status "created" | "existing", id,
    attached); raises PhotoRefused, and then nothing is kept.

    A resend of the same bytes for the same record answers "existing" before anything is decoded; bytes whose
    sha256 is not the one sent (an interrupted or garbled upload) are refused."""
    found = known(db, record_uuid, client_sha256)
    if found:
        return "existing", found["id"], found["state"] == "attached"
    if len(raw) > MAX_BYTES:
        raise PhotoRefused("too_large")
    if sha256(raw) != client_sha256:
        raise PhotoRefused("mismatch")
    if count_for_record(db, record_uuid) >= MAX_PER_RECORD:  # before the work of decoding it
        raise PhotoRefused("too_many")
    prepared = prepare(raw)
    return add(db, store, prepared, kind=record, record_uuid=record_uuid, client_sha256=client_sha256,
               user_id=user_id, now=now, caption=caption, taken_at=taken_at, visit_id=visit_id,
               request_id=request_id, request_event_id=request_event_id)


# --- Records arriving after their photos ----------------------------------------------------------------------

def attach_visit(db, visit_id, uuid, user_id):
    """Attach the photos that waited for the visit uuid, sent by its author (in the visit's transaction)."""
    db.execute("UPDATE photos SET state = 'attached', visit_id = ? WHERE record_uuid = ? AND kind = 'visit' "
               "AND state = 'pending' AND user_id = ?", [visit_id, uuid, user_id])


def attach_resolution(db, event_id, request_id, uuid, user_id):
    """Attach the photos that waited for the resolution step uuid of request_id, sent by who resolved it."""
    db.execute("UPDATE photos SET state = 'attached', request_event_id = ? WHERE record_uuid = ? "
               "AND kind = 'resolution' AND state = 'pending' AND request_id = ? AND user_id = ?",
               [event_id, uuid, request_id, user_id])


_ARRIVED_VISIT = ("(SELECT v.id FROM visits v WHERE v.uuid = photos.record_uuid "
                  "AND v.user_id = photos.user_id)")
_ARRIVED_STEP = ("(SELECT e.id FROM request_events e WHERE e.uuid = photos.record_uuid AND e.kind = 'resolved' "
                 "AND e.request_id = photos.request_id AND e.user_id = photos.user_id)")


def attach_arrived(db):
    """Attach waiting photos whose record has arrived meanwhile (a photo and its record sent at the same moment
    on two connections may each miss the other)."""
    with write(db):
        db.execute(f"UPDATE photos SET state = 'attached', visit_id = {_ARRIVED_VISIT} WHERE state = 'pending' "
                   f"AND kind = 'visit' AND {_ARRIVED_VISIT} IS NOT NULL")
        db.execute(f"UPDATE photos SET state = 'attached', request_event_id = {_ARRIVED_STEP} "
                   f"WHERE state = 'pending' AND kind = 'resolution' AND {_ARRIVED_STEP} IS NOT NULL")


def delete(db, store, photo_ids):
    """Delete photos (in one transaction), then the files no photo left shares; return how many photos."""
    photo_ids, unused = list(photo_ids), set()
    with write(db):
        for start in range(0, len(photo_ids), 500):  # SQLite takes a bounded number of parameters
            params = {}
            where = in_clause("id", photo_ids[start:start + 500], params, "photo")
            files = {sha for r in rows(db, f"SELECT sha256, thumb_sha256 FROM photos WHERE {where}", params)
                     for sha in (r["sha256"], r["thumb_sha256"])}
            db.execute(f"DELETE FROM photos WHERE {where}", params)
            unused |= files
        candidates, shared = sorted(unused), set()
        for start in range(0, len(candidates), 250):
            chunk, params = candidates[start:start + 250], {}
            shared |= {r["sha"] for r in rows(
                db, f"SELECT sha256 AS sha FROM photos WHERE {in_clause('sha256', chunk, params, 'a')} UNION "
                    f"SELECT thumb_sha256 FROM photos WHERE {in_clause('thumb_sha256', chunk, params, 'b')}", params)}
        unused -= shared
    for sha in unused:  # once the rows are gone for good
        store.delete(sha)
    return len(photo_ids)


def cleanup(db, store, now):
    """Attach the waiting photos whose record has come, and delete those older than PENDING_DAYS; return how many
    were deleted."""
    attach_arrived(db)
    cutoff = rules.iso(now - timedelta(days=PENDING_DAYS))
    old = [r["id"] for r in rows(db, "SELECT id FROM photos WHERE state = 'pending' AND uploaded_at < ?", [cutoff])]
    return delete(db, store, old)


def resolved_before(db, request_id, uuid):
    """Whether the step uuid resolved request_id already (a resent form); rules.IllegalTransition when uuid is
    another step's."""
    known = ledger.step(db, uuid)
    if known and (known["request_id"], known["kind"]) != (request_id, "resolved"):
        raise rules.IllegalTransition("the step's client id is another step's")
    return known is not None


def resolve(db, store, request_id, *, uuid, user_id, at, version, note, photos=()):
    """Resolve a request on its page with its photos ((client sha256, Prepared, caption) each), all in one
    transaction: "created", or "existing" when the step uuid was recorded before (a resent form adds nothing).
    Raises ledger.StaleRequest, rules.IllegalTransition or PhotoRefused("too_many"); nothing is written then."""
    with write(db):
        if resolved_before(db, request_id, uuid):
            return "existing"
        ledger.apply(db, request_id, "resolve", user_id=user_id, at=at, version=version, note=note, uuid=uuid)
        event_id = ledger.step(db, uuid)["id"]
        attach_resolution(db, event_id, request_id, uuid, user_id)  # those the phone sent ahead of the form
        for client_sha256, prepared, caption in photos:
            add(db, store, prepared, kind="resolution", record_uuid=uuid, client_sha256=client_sha256,
                user_id=user_id, now=rules.parse_iso(at), caption=caption, request_id=request_id,
                request_event_id=event_id)
    return "created"


# --- What is shown ----------------------------------------------------------------------------------------------

def get(db, photo_id):
    """An attached photo with the place whose scope decides who sees it: the household (of its visit or its
    request) and the cell (the household's, or for a building's or a cell's request, theirs); None otherwise."""
    return one(db, "SELECT p.*, coalesce(v.household_id, q.household_id) AS household_id, "
                   "coalesce(vh.cell_id, qh.cell_id, qb.cell_id, q.cell_id) AS cell_id, "
                   "q.responsible_user_id FROM photos p "
                   "LEFT JOIN visits v ON v.id = p.visit_id LEFT JOIN households vh ON vh.id = v.household_id "
                   "LEFT JOIN requests q ON q.id = p.request_id LEFT JOIN households qh ON qh.id = q.household_id "
                   "LEFT JOIN buildings qb ON qb.id = q.building_id "
                   "WHERE p.id = ? AND p.state = 'attached'", [photo_id])


def _by_visit(found):
    """{visit id: [its photos]} of photo rows."""
    grouped = {}
    for photo in found:
        grouped.setdefault(photo["visit_id"], []).append(photo)
    return grouped


def for_household(db, household_id):
    """{visit id: [photos]} of a household's visits, oldest photo first."""
    return _by_visit(rows(db, f"SELECT {SHOWN} FROM photos p JOIN visits v ON v.id = p.visit_id "
                              "WHERE v.household_id = ? AND p.state = 'attached' ORDER BY p.id", [household_id]))


def for_visits(db, visit_ids):
    """{visit id: [photos]} of visit_ids."""
    params = {}
    where = in_clause("p.visit_id", list(visit_ids), params, "v")
    return _by_visit(rows(db, f"SELECT {SHOWN} FROM photos p WHERE {where} AND p.state = 'attached' ORDER BY p.id",
                          params))


def for_request(db, request_id, visit_id):
    """A request's proof: before (the photos of the visit that raised it, or of the resident's report) and after
    (those of its latest resolution: taken on the request's page, or in the visit whose follow-up resolved it)."""
    raised = "p.visit_id = :visit OR " if visit_id is not None else ""
    before = rows(db, f"SELECT {SHOWN} FROM photos p WHERE p.state = 'attached' AND "
                      f"({raised}(p.kind = 'report' AND p.request_id = :request)) ORDER BY p.id",
                  {"visit": visit_id, "request": request_id} if visit_id is not None else {"request": request_id})
    step = one(db, "SELECT id, visit_id FROM request_events WHERE request_id = ? AND kind = 'resolved' "
                   "ORDER BY at DESC, id DESC LIMIT 1", [request_id])
    if step is None:
        return {"before": before, "after": []}
    params = {"step": step["id"]}
    followed = ""
    if step["visit_id"] is not None:
        followed, params["visit"] = " OR p.visit_id = :visit", step["visit_id"]
    after = rows(db, f"SELECT {SHOWN} FROM photos p WHERE p.state = 'attached' AND "
                     f"(p.request_event_id = :step{followed}) ORDER BY p.id", params)
    return {"before": before, "after": after}


def households_with_photo(db, cell_ids, since, until=None):
    """{cell id: households of cell_ids (None: all) with a visit in [since, until) that has a photo}: the
    coverage checklist's "with photo", read from the photos (far fewer than the visits)."""
    params = {"since": since}
    until_sql = ""
    if until:
        params["until"] = until
        until_sql = "AND v.visited_at < :until "
    found = rows(db, "SELECT h.cell_id, count(DISTINCT v.household_id) AS n FROM photos p "
                     "JOIN visits v ON v.id = p.visit_id JOIN households h ON h.id = v.household_id "
                     f"WHERE p.state = 'attached' AND {in_clause('h.cell_id', cell_ids, params, 'c')} "
                     f"AND v.visited_at >= :since {until_sql}GROUP BY h.cell_id", params)
    return {r["cell_id"]: r["n"] for r in found}


def of_households(db, household_ids):
    """Ids of the photos of household_ids' visits, for an offline copy's thumbnails."""
    params = {}
    return [r["id"] for r in rows(db, "SELECT p.id FROM photos p JOIN visits v ON v.id = p.visit_id WHERE "
                                      f"{in_clause('v.household_id', list(household_ids), params, 'h')} "
                                      "AND p.state = 'attached' ORDER BY p.id", params)]


def of_household(db, household_id):
    """Every photo kept of a household (its visits' and its requests'), for its resident's data export."""
    return rows(db, "SELECT p.id, p.kind, p.caption, p.taken_at, p.uploaded_at, p.width, p.height, p.bytes, "
                    "p.visit_id, p.request_id FROM photos p LEFT JOIN visits v ON v.id = p.visit_id "
                    "LEFT JOIN requests q ON q.id = p.request_id "
                    "WHERE p.state = 'attached' AND (v.household_id = :h OR q.household_id = :h) ORDER BY p.id",
                {"h": household_id})

