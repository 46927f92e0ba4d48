"""Photo evidence: uploads checked, re-encoded without metadata and kept once; waiting photos attached when their
record arrives or deleted after a day; photos served only to who may see their household."""
import hashlib
import io
import uuid
from datetime import timedelta

import pytest
from PIL import Image

from fieldapp import photostore, rules
from fieldapp.data import db as database
from fieldapp.data import photos as photo_data
from tests import factories


def jpeg(width=64, height=48, colour=(200, 40, 40), exif=None, **save):
    """A generated JPEG (no real photo), with EXIF when given."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "JPEG", **({"exif": exif} if exif else {}), **save)
    return out.getvalue()


def gps_exif():
    """EXIF with a camera's make and a GPS position, as a phone writes it."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (30.0, 16.0, 48.0), 3: "E", 4: (120.0, 6.0, 0.0)})
    return exif


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def world(db):
    grid = factories.make_grid(db)
    own, other = factories.make_cell(db, grid, lon=120.10), factories.make_cell(db, grid, lon=120.11)
    member = factories.make_user(db, "member", "m1")
    neighbour = factories.make_user(db, "member", "m2")
    factories.make_user(db, "leader", "lead", grid_id=grid)
    factories.assign(db, own, member)
    factories.assign(db, other, neighbour)
    household = factories.make_household(db, own, address="本格 1号")
    foreign = factories.make_household(db, other, address="邻格 2号")
    return {"member": member, "neighbour": neighbour, "household": household, "foreign": foreign,
            "visit": factories.make_visit(db, household, member),
            "foreign_visit": factories.make_visit(db, foreign, neighbour)}


def uuid_of(db, visit_id):
    return database.scalar(db, "SELECT uuid FROM visits WHERE id = ?", [visit_id])


@pytest.fixture
def send(client, auth, world):
    """Signed in as m1; send(data, **fields) uploads one photo for the visit m1 recorded (by default)."""
    auth.login("m1")

    def post(data, **fields):
        token = client.get("/api/session").get_json()["csrf_token"]
        form = {"record": "visit", "sha256": sha(data), **fields, "file": (io.BytesIO(data), "photo.jpg")}
        return client.post("/api/photos", data=form, content_type="multipart/form-data",
                           headers={"X-CSRFToken": token})

    return post


def count(db, state=None):
    sql = "SELECT count(*) FROM photos" + (" WHERE state = ?" if state else "")
    return database.scalar(db, sql, [state] if state else [])


def test_upload_is_created_then_existing_on_resend(app, db, world, send):
    record = uuid_of(db, world["visit"])
    photo = jpeg(2400, 1800, exif=gps_exif())
    first = send(photo, record_uuid=record, caption="楼道灯 坏了")
    assert first.status_code == 201
    assert first.get_json() == {"status": "created", "id": first.get_json()["id"], "attached": True}
    again = send(photo, record_uuid=record, caption="楼道灯 坏了")
    assert again.status_code == 200 and again.get_json()["status"] == "existing"
    assert again.get_json()["id"] == first.get_json()["id"] and count(db) == 1
    stored = database.one(db, "SELECT * FROM photos")
    assert (stored["visit_id"], stored["state"], stored["kind"], stored["caption"]) == (
        world["visit"], "attached", "visit", "楼道灯 坏了")
    kept = Image.open(io.BytesIO(photostore.from_config(app.config).get(stored["sha256"])))
    assert kept.format == "JPEG" and max(kept.size) == 1600 and (stored["width"], stored["height"]) == (1600, 1200)
    assert not kept.getexif() and "exif" not in kept.info  # no camera, no GPS position left
    thumb = Image.open(io.BytesIO(photostore.from_config(app.config).get(stored["thumb_sha256"])))
    assert max(thumb.size) == 320


def test_orientation_is_applied_before_the_metadata_goes(app, db, world, send):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to show
    send(jpeg(80, 40, exif=exif), record_uuid=uuid_of(db, world["visit"]))
    assert database.one(db, "SELECT width, height FROM photos") == {"width": 40, "height": 80}


@pytest.mark.parametrize("case", ["mismatch", "not_image", "png_named_jpeg_ok", "bomb"])
def test_bad_uploads_are_refused_and_nothing_kept(app, db, world, send, case, monkeypatch):
    record = uuid_of(db, world["visit"])
    if case == "mismatch":  # the connection dropped halfway: the bytes are not those hashed on the phone
        photo = jpeg()
        answer = send(photo[: len(photo) // 2], record_uuid=record, sha256=sha(photo))
        expected = (422, "incomplete or damaged")
    elif case == "not_image":
        answer = send(b"%PDF-1.4 not a photo at all", record_uuid=record)
        expected = (415, "not a photo")
    elif case == "png_named_jpeg_ok":  # decoded for what it is, whatever its name says
        out = io.BytesIO()
        Image.new("RGBA", (30, 20), (0, 0, 255, 0)).save(out, "PNG")
        assert send(out.getvalue(), record_uuid=record).status_code == 201
        return
    else:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a tiny limit: this small photo is a "bomb"
        answer = send(jpeg(100, 100), record_uuid=record)
        expected = (413, "too many pixels")
    assert (answer.status_code, answer.get_json()["status"]) == (expected[0], "rejected")
    assert expected[1] in answer.get_json()["errors"]["file"]
    assert count(db) == 0 and not photostore.from_config(app.config).shas()


def test_declared_huge_png_is_refused_from_its_header(app, db, world, send):
    """A few hundred bytes that claim 30000 x 30000 pixels: refused before a pixel is decoded."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    answer = send(png, record_uuid=uuid_of(db, world["visit"]))
    assert answer.status_code == 413 and count(db) == 0


def test_oversized_uploads_are_refused_in_json(app, db, world, send, client):
    record = uuid_of(db, world["visit"])
    over_limit = send(b"\xff\xd8" + b"\0" * (photo_data.MAX_BYTES + 10), record_uuid=record)
    assert over_limit.status_code == 413 and "at most 15 MB" in over_limit.get_json()["errors"]["file"]
    huge = send(b"\0" * (40 * 1024 * 1024), record_uuid=record)  # refused from its Content-Length
    assert huge.status_code == 413 and huge.is_json
    assert huge.get_json() == {"status": "rejected", "errors": {"file": "The photo is too large: at most 15 MB."}}
    assert count(db) == 0


def test_seventh_photo_is_refused(app, db, world, send):
    record = uuid_of(db, world["visit"])
    for n in range(6):
        assert send(jpeg(colour=(n * 30, 0, 0)), record_uuid=record).status_code == 201
    seventh = send(jpeg(colour=(0, 250, 0)), record_uuid=record)
    assert seventh.status_code == 409 and "At most 6 photos" in seventh.get_json()["errors"]["file"]
    assert count(db) == 6


def test_photo_for_another_cells_visit_is_refused(app, db, world, send):
    answer = send(jpeg(), record_uuid=uuid_of(db, world["foreign_visit"]))
    assert answer.status_code == 404 and answer.get_json()["status"] == "rejected" and count(db) == 0


def test_malformed_fields_are_named(app, db, world, send):
    answer = send(jpeg(), record="diary", record_uuid="", sha256="xyz", caption="长" * 201, taken_at="yesterday")
    assert answer.status_code == 422
    assert set(answer.get_json()["errors"]) == {"record", "record_uuid", "sha256", "caption", "taken_at"}


def test_signed_out_upload_gets_401(client):
    token = client.get("/api/session").get_json()["csrf_token"]
    answer = client.post("/api/photos", data={"record": "visit"}, headers={"X-CSRFToken": token})
    assert answer.status_code == 401 and answer.is_json


def test_photo_waits_for_its_visit_then_is_attached(app, db, world, send, client, monkeypatch):
    monkeypatch.setattr(rules, "utcnow", lambda: rules.parse_iso("2026-11-28T02:00:00Z"))
    record = str(uuid.uuid4())
    first = send(jpeg(), record_uuid=record, taken_at="2026-11-28T01:59:00Z")
    assert first.status_code == 201 and first.get_json()["attached"] is False
    photo_id = first.get_json()["id"]
    assert client.get(f"/photos/{photo_id}/thumb").status_code == 404  # never shown without its record
    token = client.get("/api/session").get_json()["csrf_token"]
    synced = client.post("/api/visits", json={"visits": [{
        "uuid": record, "household_id": world["household"], "visited_at": "2026-11-28T01:58:00Z",
        "outcome": "met", "notes": "", "residents_met": []}]}, headers={"X-CSRFToken": token})
    assert synced.get_json()["results"][0]["status"] == "created"
    row = database.one(db, "SELECT state, visit_id, taken_at FROM photos WHERE id = ?", [photo_id])
    assert row == {"state": "attached", "visit_id": synced.get_json()["results"][0]["visit_id"],
                   "taken_at": "2026-11-28T01:59:00Z"}
    assert client.get(f"/photos/{photo_id}/thumb").status_code == 200


def test_cleanup_deletes_old_waiting_photos_and_their_files(app, db, world, send, runner):
    kept = send(jpeg(colour=(1, 2, 3)), record_uuid=uuid_of(db, world["visit"])).get_json()["id"]
    waiting = send(jpeg(colour=(9, 9, 9)), record_uuid=str(uuid.uuid4())).get_json()["id"]
    fresh = send(jpeg(colour=(7, 7, 7)), record_uuid=str(uuid.uuid4())).get_json()["id"]
    store = photostore.from_config(app.config)
    old_files = database.one(db, "SELECT sha256, thumb_sha256 FROM photos WHERE id = ?", [waiting])
    two_days_ago = rules.iso(rules.utcnow() - timedelta(days=2))
    with database.write(db):
        db.execute("UPDATE photos SET uploaded_at = ? WHERE id = ?", [two_days_ago, waiting])
    result = runner.invoke(args=["photos-cleanup"])
    assert result.exit_code == 0 and "1 photo(s) deleted" in result.output
    assert [r["id"] for r in database.rows(db, "SELECT id FROM photos ORDER BY id")] == [kept, fresh]
    assert not store.exists(old_files["sha256"]) and not store.exists(old_files["thumb_sha256"])
    assert len(store.shas()) == 4


def test_folder_store_is_content_addressed_and_atomic(tmp_path):
    store = photostore.FolderStore(tmp_path / "photos")
    name = store.put(b"jpeg bytes")
    assert name == sha(b"jpeg bytes") and store.put(b"jpeg bytes") == name
    assert store.path(name) == tmp_path / "photos" / name[:2] / name[2:4] / f"{name}.jpg"
    assert store.get(name) == b"jpeg bytes" and store.exists(name) and store.shas() == [name]
    assert not list((tmp_path / "photos").rglob(".partial-*"))
    store.delete(name)
    assert not store.exists(name)
    with pytest.raises(photostore.MissingPhoto):
        store.get(name)
    with pytest.raises(photostore.MissingPhoto):
        store.get("../../etc/passwd")
