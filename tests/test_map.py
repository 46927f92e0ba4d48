"""The map: page without external assets or inline script, the data endpoint (columns, scoped, no personal
data, aggregated per building, outlines per zoom band), filters, popups, tiles and the GCJ-02 shift, bad input."""
import gzip
import html
import json
import math
import re
from datetime import timedelta

import pytest

from fieldapp import geo, rules
from fieldapp.data import households, mapdata
from fieldapp.data.db import insert, write
from fieldapp.clock import clock
from tests import factories


def _ago(days):
    return rules.iso(rules.utcnow() - timedelta(days=days))


def _yesterday():
    return (rules.today() - timedelta(days=1)).isoformat()


@pytest.fixture
def area(db):
    """Grid A (cell A1 of member m1 with a building of every status and a village house, cell A2 of m2),
    grid B (cell B1 of m3); leader `lead` of grid A; admin `boss`."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    a1 = factories.make_cell(db, grid_a, lon=120.10, name="翠苑一区", code="A-01")
    a2 = factories.make_cell(db, grid_a, lon=120.11, name="翠苑二区", code="A-02")
    b1 = factories.make_cell(db, grid_b, lon=120.12, name="龙坞一组", code="B-01")
    m1 = factories.make_user(db, "member", "m1")
    m2 = factories.make_user(db, "member", "m2")
    m3 = factories.make_user(db, "member", "m3")
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    factories.make_user(db, "admin", "boss")
    for cell, member in ((a1, m1), (a2, m2), (b1, m3)):
        factories.assign(db, cell, member)
    block = factories.make_building(db, a1, lon=120.1005, lat=30.2805, name="3号楼")
    home = {status: factories.make_household(db, a1, block, room=str(101 + i))
            for i, status in enumerate(rules.STATUSES)}
    factories.make_request(db, home["overdue_request"], m1, due_date=_yesterday())
    factories.make_request(db, home["open_request"], m1)
    factories.make_visit(db, home["visited"], m1)
    with write(db):
        db.execute("UPDATE households SET occupancy = 'vacant' WHERE id = ?", [home["vacant"]])
    factories.make_resident(db, home["due"], name="李秀英", phone="13912345678", tags=["elderly_alone"])
    house = factories.make_household(db, a1, None, lon=120.1015, lat=30.2815, address="龙坞村 7号")
    factories.make_visit(db, house, m1)
    other = factories.make_household(db, a2, factories.make_building(db, a2, lon=120.1105, lat=30.2805))
    far = factories.make_household(db, b1, factories.make_building(db, b1, lon=120.1205, lat=30.2805))
    return {"cells": {"A1": a1, "A2": a2, "B1": b1}, "building": block, "home": home, "house": house,
            "other": other, "far": far, "members": {"m1": m1, "m2": m2}}


def _data(client, query=""):
    response = client.get("/map/data.geojson" + query)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return json.loads(response.data)


def _points(document):
    """Households per status of each building ("b<id>") and house ("h<id>"), as map-worker.js reads them."""
    return {key: point["n"] for key, point in geo.read_map_columns(document)["points"].items()}


def _cells(document):
    return geo.read_map_columns(document)["cells"]


def _properties(cell):
    return {name: cell[name] for name in ("code", "name", "occupied", "visited", "attempted")}


def test_the_page_loads_no_script_or_stylesheet_from_outside_the_app(client, auth, area, app):
    auth.login("lead")
    for tiles in ("none", "osm", "gaode"):
        app.config["TILES"] = tiles
        page = client.get("/map/").get_data(as_text=True)
        sources = re.findall(r'<script\b[^>]*\bsrc="([^"]*)"', page) + re.findall(r'<link\b[^>]*\bhref="([^"]*)"', page)
        assert sources and all(src.startswith("/") and not src.startswith("//") for src in sources), sources
        assert "/static/vendor/leaflet-1.9.4/leaflet.js" in sources
        # The worker and the supercluster it imports: the app's own files too.
        assert 'data-worker="/static/js/map-worker.js"' in page
        assert 'data-supercluster="/static/vendor/supercluster-8.0.1.min.js"' in page
        # The CSP forbids inline scripts: every <script> has a src.
        assert len(re.findall(r"<script\b", page)) == len(re.findall(r'<script\b[^>]*\bsrc="', page))
        assert not re.search(r"cdn|jsdelivr|cdnjs|jquery|bootstrap|netdna|fontawesome", page, re.I)


def test_setup_script_builds_the_leaflet_map_of_the_users_cells(client, auth, area):
    auth.login("lead")
    page = client.get("/map/").get_data(as_text=True)
    assert 'id="map_fieldapp"' in page and 'src="/map/setup.js"' in page
    response = client.get("/map/setup.js")
    assert response.mimetype == "text/javascript"
    script = response.get_data(as_text=True)
    assert re.search(r'L\.map\(\s*"map_fieldapp"', script)
    assert "fitBounds" in script and "tileLayer" not in script  # tiles none: a plain background
    # The view covers grid A (120.10 .. 120.112), not grid B.
    south_west, north_east = json.loads(re.search(r"fitBounds\(\s*(\[\[.*?\]\])", script, re.S).group(1))
    assert south_west == [30.28, 120.1] and north_east[1] == pytest.approx(120.112)


def test_data_is_columns_in_lon_lat_order_with_the_statuses_in_order(client, auth, area):
    auth.login("lead")
    document = _data(client)
    assert document["statuses"] == list(rules.STATUSES) and document["households"] == 7
    found = geo.read_map_columns(document)
    assert found["points"][f"h{area['house']}"]["lon"] == 120.1015
    assert found["points"][f"h{area['house']}"]["lat"] == 30.2815
    for cell in found["cells"].values():
        for lon, lat in cell["outlines"][-1][0][0]:
            assert 120 < lon < 121 and 30 < lat < 31


def test_outlines_are_simplified_per_zoom_band_and_exact_when_zoomed_in():
    from shapely.geometry import Polygon, shape

    # A cell with a round edge of 400 positions, about 300 m across.
    ring = [[120.1 + 0.0015 * math.cos(2 * math.pi * i / 400), 30.28 + 0.0013 * math.sin(2 * math.pi * i / 400)]
            for i in range(400)]
    stored = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
    document = {"scale": geo.SCALE, "statuses": [], "points": {"buildings": 0, "id": [], "lon": [], "lat": [],
                                                               "counts": []},
                "cells": json.loads(geo.map_columns([{"id": 1, "code": "C", "name": "C", "geometry": stored,
                                                      "occupied": 0, "visited": 0, "attempted": 0}], [],
                                                    lambda lon, lat: (lon, lat)))["cells"]}
    bands = geo.read_map_columns(document)["cells"]["c1"]["outlines"]
    sizes = [len(band[0][0]) for band in bands]
    assert sizes[0] < sizes[1] < sizes[2] == 400, sizes
    original = shape(stored)
    for (_zoom, tolerance), band in zip(geo.OUTLINE_BANDS, bands):
        drawn = Polygon(band[0][0])
        assert drawn.is_valid and original.hausdorff_distance(drawn) <= tolerance + 1e-6
    assert bands[2][0][0] == [(round(lon, 6), round(lat, 6)) for lon, lat in ring]  # as stored, to 0.1 m


def test_the_cells_keep_their_version_across_filters_and_change_with_the_data(client, auth, area, db):
    auth.login("lead")
    version = _data(client)["cellsVersion"]
    assert _data(client, "?status=due")["cellsVersion"] == version
    factories.make_visit(db, area["home"]["due"], area["members"]["m1"])
    assert _data(client)["cellsVersion"] != version


def test_one_marker_per_building_coloured_by_counts_and_one_per_standalone_house(client, auth, area):
    auth.login("lead")
    points = _points(_data(client))
    assert points[f"b{area['building']}"] == [1, 1, 1, 1, 1]
    assert points[f"h{area['house']}"] == [0, 0, 0, 1, 0]
    assert len(points) == 3  # the building and the house of A1, the building of A2


def test_cells_carry_their_coverage_of_the_current_cycle(client, auth, area):
    auth.login("lead")
    cells = _cells(_data(client))
    a1 = _properties(cells[f"c{area['cells']['A1']}"])
    # Occupied in A1: 4 in the building + the house; visited this cycle: one of them and the house.
    assert a1 == {"code": "A-01", "name": "翠苑一区", "occupied": 5, "visited": 2, "attempted": 0}
    assert set(cells) == {f"c{area['cells']['A1']}", f"c{area['cells']['A2']}"}


@pytest.mark.parametrize("user, cells", [("m1", {"A1"}), ("m2", {"A2"}), ("lead", {"A1", "A2"}),
                                         ("boss", {"A1", "A2", "B1"})])
def test_each_user_gets_the_map_of_their_scope(client, auth, area, user, cells):
    auth.login(user)
    collection = _data(client)
    assert set(_cells(collection)) == {f"c{area['cells'][name]}" for name in cells}
    marked = set(_points(collection))
    assert (f"b{area['building']}" in marked) == ("A1" in cells)
    assert any(p.startswith("b") and p != f"b{area['building']}" for p in marked) == (cells != {"A1"})


def test_the_payload_holds_no_personal_data(client, auth, area):
    auth.login("boss")
    text = client.get("/map/data.geojson").get_data(as_text=True)
    for personal in ("李秀英", "13912345678", "elderly_alone", "独居老人", "龙坞村 7号", "room", "address", "phone"):
        assert personal not in text
    document = json.loads(text)
    assert set(document["points"]) == {"buildings", "id", "lon", "lat", "counts"}
    assert set(document["cells"]) == {"id", "code", "name", "occupied", "visited", "attempted", "zooms", "outlines"}


@pytest.mark.parametrize("query, expected", [
    ("?not_visited=1", [1, 1, 1, 0, 0]),  # the households with requests were never visited either
    ("?open_requests=1", [1, 1, 0, 0, 0]),
    ("?status=due", [0, 0, 1, 0, 0]),
    ("?tag={elderly_alone}", [0, 0, 1, 0, 0]),
])
def test_filters_count_only_matching_households(app, client, auth, area, query, expected):
    from fieldapp.templating import tag_token

    auth.login("lead")
    with app.test_request_context():
        query = query.format(elderly_alone=tag_token("elderly_alone"))
    points = _points(_data(client, query))
    assert points[f"b{area['building']}"] == expected
    assert (f"h{area['house']}" in points) is False


def test_cell_and_member_filters_keep_the_cells_but_only_their_markers(client, auth, area):
    auth.login("lead")
    by_cell = _data(client, f"?cell={area['cells']['A2']}")
    assert len(_cells(by_cell)) == 2
    assert f"b{area['building']}" not in _points(by_cell) and len(_points(by_cell)) == 1
    by_member = _data(client, f"?member={area['members']['m1']}")
    assert set(_points(by_member)) == {f"b{area['building']}", f"h{area['house']}"}


def test_unknown_filter_values_are_ignored_with_a_notice(client, auth, area):
    auth.login("lead")
    response = client.get(f"/map/?lang=en&status=burning&cell={area['cells']['B1']}&tag=nope&member=x"
                          "&not_visited=maybe")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for notice in ("Unknown status filter ignored.", "Unknown cell filter ignored.", "Unknown tag filter ignored.",
                   "Unknown member filter ignored.", "Unknown value of a quick filter ignored."):
        assert notice in page
    assert _points(_data(client, "?status=burning&cell=abc")) == _points(_data(client))


def test_a_broken_cell_outline_does_not_break_the_map_and_the_admin_sees_which(client, auth, area, db):
    with write(db):
        db.execute("UPDATE cells SET geometry = ? WHERE id = ?",
                   ['{"type": "Polygon", "coordinates": [[[120.11, 30.28]', area["cells"]["A2"]])
    auth.login("boss")
    page = client.get("/map/?lang=en").get_data(as_text=True)
    assert "A-02 翠苑二区" in page and "not JSON" in page
    collection = _data(client)
    assert f"c{area['cells']['A2']}" not in _cells(collection)
    assert collection["brokenCells"] == ["A-02"]
    assert len(_points(collection)) == 4  # A2's household is still on the map
    auth.logout()
    auth.login("lead")
    page = client.get("/map/?lang=en").get_data(as_text=True)
    alert = re.search(r'role="alert">(.*?)</div>', page, re.S).group(1)
    assert "A-02 翠苑二区" in alert and "The administrator can correct them" in alert and "not JSON" not in alert


def test_map_statuses_agree_with_with_status(app, db, area):
    """The map's aggregate and households.with_status apply the same rule, tag cycles included."""
    a1 = area["cells"]["A1"]
    cases = {}
    for name, tags, visited_days_ago, moved_out in (("short cycle, due", ["elderly_alone"], 10, False),
                                                    ("short cycle, fresh", ["elderly_alone"], 3, False),
                                                    ("moved-out resident's tag", ["elderly_alone"], 10, True),
                                                    ("no tag", [], 10, False), ("old visit", [], 40, False)):
        household = factories.make_household(db, a1, area["building"])
        factories.make_resident(db, household, tags=tags, moved_out_at=_ago(1) if moved_out else None)
        factories.make_visit(db, household, area["members"]["m1"], visited_at=_ago(visited_days_ago))
        cases[name] = household
    tagged = factories.make_household(db, a1)
    with write(db):
        insert(db, "household_tags", {"household_id": tagged, "tag_id": 1}, returning=None)  # elderly_alone: 7 days
    factories.make_visit(db, tagged, area["members"]["m1"], visited_at=_ago(10))
    with app.app_context():
        now = clock(db)
    expected = {h["id"]: h["status"] for h in households.with_status(db, now)}
    assert mapdata.household_statuses(db, now) == expected
    assert expected[cases["short cycle, due"]] == "due" and expected[cases["short cycle, fresh"]] == "visited"
    assert expected[cases["moved-out resident's tag"]] == "visited" and expected[tagged] == "due"
    assert expected[cases["old visit"]] == "due" and expected[cases["no tag"]] == "visited"
    # And per building: the map's counts are those of with_status, grouped.
    grouped = {}
    for h in households.with_status(db, now):
        key = ("b", h["building_id"]) if h["building_id"] else ("h", h["id"])
        grouped.setdefault(key, [0] * 5)[rules.URGENCY[h["status"]]] += 1
    found = {("b", g["building_id"]) if g["building_id"] else ("h", g["house_id"]): g["counts"]
             for g in mapdata.point_groups(db, now)}
    assert found == grouped


def test_attempts_show_beside_visits_and_leave_the_status_colours_as_they_are(client, auth, area, db):
    a1, m1 = area["cells"]["A1"], area["members"]["m1"]
    tried = factories.make_household(db, a1, area["building"], room="601")
    factories.make_visit(db, tried, m1, visited_at=_ago(2), outcome="nobody_home")
    gone = factories.make_household(db, a1, None, lon=120.1012, lat=30.2812, retired_at=_ago(3))
    factories.make_visit(db, gone, m1, visited_at=_ago(2), outcome="nobody_home")
    auth.login("lead")
    collection = _data(client)
    assert _properties(_cells(collection)[f"c{a1}"]) == {"code": "A-01", "name": "翠苑一区", "occupied": 6,
                                                          "visited": 2, "attempted": 1}
    # The tried household is due like any other; the retired one is not on the map.
    assert _points(collection)[f"b{area['building']}"] == [1, 1, 2, 1, 1] and f"h{gone}" not in _points(collection)
    cell = client.get(f"/map/cells/{a1}?lang=en", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "2 of 6 occupied households" in cell and "17%" in cell and "attempted, not reached (1 household)" in cell
    building = client.get(f"/map/buildings/{area['building']}?lang=en", headers={"HX-Request": "true"})
    popup = building.get_data(as_text=True)
    assert "1 attempted, not reached" in popup
    row = popup.split(f'/households/{tried}"', 1)[1].split("</li>", 1)[0]
    assert "Due for a visit" in row and "Attempted" in row
    page = client.get("/map/?lang=en").get_data(as_text=True)
    assert "{pct} visited, {tried} attempted" in html.unescape(page) and "Attempted: tried this cycle" in page


def test_building_popup_lists_its_households_by_status_with_links(client, auth, area):
    auth.login("lead")
    response = client.get(f"/map/buildings/{area['building']}?lang=en", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "3号楼" in fragment and "5 households" in fragment
    for household_id in area["home"].values():
        assert f'href="/households/{household_id}"' in fragment
    assert fragment.index(f'/households/{area["home"]["overdue_request"]}"') < \
        fragment.index(f'/households/{area["home"]["visited"]}"')
    filtered = client.get(f"/map/buildings/{area['building']}?lang=en&open_requests=1",
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "2 of 5 match the filters" in filtered
    assert f'/households/{area["home"]["visited"]}"' not in filtered
    page = client.get(f"/map/buildings/{area['building']}").get_data(as_text=True)
    assert "<html" in page and "3号楼" in page  # without htmx: a page of its own


def test_popups_answer_404_outside_the_scope(client, auth, area):
    auth.login("m2")
    assert client.get(f"/map/buildings/{area['building']}").status_code == 404
    assert client.get(f"/map/households/{area['house']}").status_code == 404
    assert client.get(f"/map/cells/{area['cells']['A1']}").status_code == 404
    assert client.get("/map/buildings/99999").status_code == 404


def test_cell_popup_shows_coverage_members_and_the_checklist_for_leaders(client, auth, area):
    auth.login("lead")
    fragment = client.get(f"/map/cells/{area['cells']['A1']}?lang=en", headers={"HX-Request": "true"}) \
        .get_data(as_text=True)
    assert "40%" in fragment and "2 of 5 occupied households" in fragment
    assert "用户" in fragment  # the responsible member's display name
    assert 'href="/coverage/"' in fragment
    assert f'href="/coverage/not-visited?cell={area["cells"]["A1"]}"' in fragment
    auth.logout()
    auth.login("m1")
    fragment = client.get(f"/map/cells/{area['cells']['A1']}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'href="/coverage/"' not in fragment


def test_house_popup_links_to_the_household(client, auth, area):
    auth.login("m1")
    fragment = client.get(f"/map/households/{area['house']}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "龙坞村 7号" in fragment and f'href="/households/{area["house"]}"' in fragment


def test_the_page_gives_map_js_a_popup_url_for_every_kind_of_feature(client, auth, area):
    auth.login("lead")
    page = client.get("/map/").get_data(as_text=True)
    popups = json.loads(html.unescape(re.search(r"data-popups='([^']*)'", page).group(1)))
    found = geo.read_map_columns(_data(client))
    ids = [*found["cells"], *found["points"]]
    for kind, content in (("c", "翠苑一区"), ("b", "3号楼"), ("h", "龙坞村 7号")):
        feature_id = next(i for i in ids if i.startswith(kind))
        popup = client.get(popups[kind] + feature_id[1:], headers={"HX-Request": "true"})
        assert popup.status_code == 200 and content in popup.get_data(as_text=True), kind


def test_gaode_tiles_shift_what_is_drawn_but_not_what_is_stored(client, auth, area, app, db):
    auth.login("lead")
    plain = _data(client)
    app.config["TILES"] = "gaode"
    shifted = _data(client)
    point = lambda c, i: geo.read_map_columns(c)["points"][i]  # noqa: E731
    house = f"h{area['house']}"
    assert (point(plain, house)["lon"], point(plain, house)["lat"]) == (120.1015, 30.2815)
    assert rules.distance_m(point(shifted, house)["lon"], point(shifted, house)["lat"],
                            *geo.wgs84_to_gcj02(120.1015, 30.2815)) < 0.2
    for ring in (band[0][0] for band in _cells(shifted)[f"c{area['cells']['A1']}"]["outlines"]):
        assert rules.distance_m(*ring[0], *geo.wgs84_to_gcj02(120.10, 30.28)) < 0.2
    assert db.execute("SELECT lon FROM households WHERE id = ?", [area["house"]]).fetchone()[0] == 120.1015
    script = client.get("/map/setup.js").get_data(as_text=True)
    assert "autonavi.com" in script and "AutoNavi" in script
    assert client.get("/map/shift?lon=120.1&lat=30.28").get_json()["lon"] == pytest.approx(
        geo.wgs84_to_gcj02(120.1, 30.28)[0], abs=1e-6)


def test_tianditu_draws_base_and_labels_with_the_key_or_says_what_is_missing(client, auth, area, app):
    auth.login("boss")
    app.config.update(TILES="tianditu", TIANDITU_KEY="")
    page = client.get("/map/?lang=en").get_data(as_text=True)
    assert "FIELDAPP_TIANDITU_KEY" in page
    assert "tileLayer" not in client.get("/map/setup.js").get_data(as_text=True)
    app.config["TIANDITU_KEY"] = "k3y"
    script = client.get("/map/setup.js").get_data(as_text=True)
    assert "vec_w" in script and "cva_w" in script and "tk=k3y" in script and "Tianditu" in script
    assert client.get("/map/shift?lon=120.1&lat=30.28").get_json() == {"lon": 120.1, "lat": 30.28}


def test_osm_tiles_carry_their_attribution(client, auth, area, app):
    auth.login("lead")
    app.config["TILES"] = "osm"
    script = client.get("/map/setup.js").get_data(as_text=True)
    assert "tile.openstreetmap.org" in script and "OpenStreetMap" in script


def test_data_follows_new_visits_and_answers_304_while_nothing_changed(client, auth, area, db):
    auth.login("lead")
    first = client.get("/map/data.geojson")
    etag = first.headers["ETag"]
    assert client.get("/map/data.geojson", headers={"If-None-Match": etag}).status_code == 304
    factories.make_visit(db, area["home"]["due"], area["members"]["m1"])
    again = client.get("/map/data.geojson", headers={"If-None-Match": etag})
    assert again.status_code == 200
    assert _points(json.loads(again.data))[f"b{area['building']}"] == [1, 1, 0, 2, 1]


def test_data_is_sent_gzipped_to_clients_that_accept_it(client, auth, area):
    auth.login("lead")
    plain = client.get("/map/data.geojson").data
    zipped = client.get("/map/data.geojson", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain


@pytest.mark.parametrize("query", ["", "?lon=abc&lat=1", "?lon=500&lat=30"])
def test_shift_refuses_a_position_that_is_not_one(client, auth, area, query):
    auth.login("m1")
    assert client.get("/map/shift" + query).status_code == 400


def test_a_member_without_cells_gets_an_empty_map_that_says_why(client, auth, db):
    factories.make_user(db, "member", "newbie")
    auth.login("newbie")
    page = client.get("/map/?lang=en").get_data(as_text=True)
    assert "No cell is assigned to you today" in page
    assert _points(_data(client)) == {} and _cells(_data(client)) == {}


def test_the_map_speaks_chinese_by_default(client, auth, area):
    auth.login("lead")
    page = client.get("/map/").get_data(as_text=True)
    for words in ("本周期未走访", "待办诉求", "定位我", "图例"):
        assert words in page
