"""Small factories for test data: each makes one row with sensible defaults and returns its id."""
import itertools
import json

from argon2 import PasswordHasher

from fieldapp import rules
from fieldapp.data.db import insert, write

# Cheap argon2 parameters for tests only (verification takes its parameters from the hash).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
_HASH = FAST_HASHER.hash(PASSWORD)
_seq = itertools.count(1)


def _now():
    return rules.iso(rules.utcnow())


def square(lon, lat, size=0.002):
    """A GeoJSON square polygon with its south-west corner at lon, lat."""
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def make_grid(db, **kw):
    n = next(_seq)
    row = {"code": f"G{n}", "name": f"第{n}网格", **kw}
    with write(db):
        return insert(db, "grids", row)


def make_cell(db, grid_id=None, lon=120.10, lat=30.28, size=0.002, **kw):
    n = next(_seq)
    grid_id = grid_id or make_grid(db)
    geometry = square(lon, lat, size)
    row = {"grid_id": grid_id, "code": f"C{n}", "name": f"微网格{n}", "geometry": json.dumps(geometry),
           "min_lon": lon, "min_lat": lat, "max_lon": lon + size, "max_lat": lat + size, **kw}
    with write(db):
        return insert(db, "cells", row)


def make_building(db, cell_id, lon=120.1005, lat=30.2805, **kw):
    n = next(_seq)
    row = {"external_id": f"B{n}", "cell_id": cell_id, "name": f"{n}号楼", "kind": "apartment",
           "lon": lon, "lat": lat, **kw}
    with write(db):
        return insert(db, "buildings", row)


def make_household(db, cell_id, building_id=None, **kw):
    n = next(_seq)
    row = {"external_id": f"H{n}", "cell_id": cell_id, "building_id": building_id, "unit": "1",
           "room": str(100 + n), "address": f"测试小区 1单元 {100 + n}室", "occupancy": "occupied",
           "created_at": _now(), **kw}
    if building_id is None and "lon" not in kw:
        row.update(lon=120.1008, lat=30.2808)
    with write(db):
        return insert(db, "households", row)


def make_resident(db, household_id, tags=(), **kw):
    row = {"household_id": household_id, "name": "王秀英", "phone": "13812341234", "created_at": _now(), **kw}
    with write(db):
        resident_id = insert(db, "residents", row)
        for code in tags:
            tag_id = db.execute("SELECT id FROM tags WHERE code = ?", [code]).fetchone()[0]
            insert(db, "resident_tags", {"resident_id": resident_id, "tag_id": tag_id}, returning=None)
    return resident_id


def make_user(db, role="member", username=None, grid_id=None, active=True, **kw):
    n = next(_seq)
    row = {"username": username or f"user{n}", "display_name": f"用户{n}", "password_hash": _HASH,
           "role": role, "grid_id": grid_id, "active": int(active), "created_at": _now(), **kw}
    with write(db):
        return insert(db, "users", row)


def assign(db, cell_id, user_id, valid_from="2020-01-01T00:00:00Z", valid_to=None):
    with write(db):
        return insert(db, "assignments", {"cell_id": cell_id, "user_id": user_id,
                                         "valid_from": valid_from, "valid_to": valid_to})


def make_upload(db, username, kind="cells", content=None, filename="cells.geojson", token=None):
    """Keep an import file for the user named username, as the admin's upload does; return its token."""
    from fieldapp.data import geodata

    user_id = db.execute("SELECT id FROM users WHERE username = ?", [username]).fetchone()[0]
    token = token or f"upload-{next(_seq)}"
    content = content if content is not None else json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": f"U{next(_seq)}", "name": "导入微网格"},
         "geometry": square(121.0, 31.0)}]}).encode()
    geodata.save_upload(db, token=token, user_id=user_id, kind=kind, crs="wgs84", filename=filename, content=content)
    return token


def make_visit(db, household_id, user_id, visited_at=None, outcome="met", received_at=None):
    """Record a visit the way the app does (the household's last visit moves with it); return its id."""
    from fieldapp.data import visits

    at = visited_at or _now()
    _result, visit_id = visits.record(db, {
        "uuid": f"visit-{next(_seq)}", "household_id": household_id, "user_id": user_id, "visited_at": at,
        "received_at": received_at or at, "location_flag": "no_location", "outcome": outcome,
        "payload_sha256": None})
    return visit_id


def make_request(db, household_id, user_id, category="medical", status="open", due_date="2099-01-01",
                 description="需要家庭医生上门", created_at=None, **kw):
    """A ledger request with its "created" event; return its id."""
    at = created_at or _now()
    with write(db):
        request_id = insert(db, "requests", {
            "uuid": f"request-{next(_seq)}", "household_id": household_id, "category": category,
            "description": description, "status": status, "responsible_user_id": user_id, "due_date": due_date,
            "created_by": user_id, "created_at": at, "updated_at": at, **kw})
        insert(db, "request_events", {"request_id": request_id, "user_id": user_id, "at": at, "kind": "created",
                                     "from_status": None, "to_status": "open", "note": description, "data": "{}"})
    return request_id


def make_photo(db, app, *, visit_id=None, request_id=None, request_event_id=None, kind="visit", state="attached",
               content=b"photo", user_id=None, uploaded_at=None, caption=None):
    """A photo row with its bytes (and thumbnail: the same bytes) in app's photo store; return its id."""
    from fieldapp import photostore

    store = photostore.from_config(app.config)
    sha = photostore.sha256(content)
    path = store.path(sha)  # written plainly: the store's put syncs each file to disk, which tests need not wait for
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with write(db):
        return insert(db, "photos", {
            "record_uuid": f"record-{next(_seq)}", "client_sha256": sha, "sha256": sha, "bytes": len(content),
            "width": 16, "height": 12, "thumb_sha256": sha, "caption": caption, "kind": kind, "state": state,
            "user_id": user_id, "uploaded_at": uploaded_at or _now(), "visit_id": visit_id,
            "request_id": request_id, "request_event_id": request_event_id})
