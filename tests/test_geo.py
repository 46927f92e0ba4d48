"""GCJ-02 against published reference pairs, cell outline checks, and the map's data in columns."""
import json

import pytest

from fieldapp import geo, rules

# WGS-84 (lon, lat) -> GCJ-02 (lon, lat) as published with widely used implementations:
# eviltransform's test cases (googollee/eviltransform) and coordtransform's README (wandergis/coordtransform).
REFERENCE_PAIRS = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai (eviltransform)
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen (eviltransform)
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing (eviltransform)
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),  # Beijing (coordtransform)
]


@pytest.mark.parametrize("wgs, gcj", REFERENCE_PAIRS)
def test_wgs84_to_gcj02_matches_published_pairs_within_a_metre(wgs, gcj):
    assert rules.distance_m(*geo.wgs84_to_gcj02(*wgs), *gcj) < 1


@pytest.mark.parametrize("wgs, gcj", REFERENCE_PAIRS)
def test_gcj02_to_wgs84_finds_the_original_point_within_a_metre(wgs, gcj):
    assert rules.distance_m(*geo.gcj02_to_wgs84(*gcj), *wgs) < 1


def test_the_shift_in_hangzhou_is_hundreds_of_metres():
    # What drawing stored WGS-84 on Gaode tiles without the shift would get wrong.
    assert 300 < rules.distance_m(120.10, 30.28, *geo.wgs84_to_gcj02(120.10, 30.28)) < 700


@pytest.mark.parametrize("lon, lat", [(2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688), (0, 0),
                                      (183, 45)])
def test_points_outside_china_are_unchanged(lon, lat):
    assert geo.out_of_china(lon, lat)
    assert geo.wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert geo.gcj02_to_wgs84(lon, lat) == (lon, lat)


def _polygon(ring):
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


SQUARE = [[120.1, 30.28], [120.102, 30.28], [120.102, 30.282], [120.1, 30.282], [120.1, 30.28]]


def test_a_sound_polygon_has_no_problem():
    assert geo.polygon_problem(_polygon(SQUARE)) is None
    assert geo.polygon_problem(json.dumps({"type": "MultiPolygon", "coordinates": [[SQUARE]]})) is None


@pytest.mark.parametrize("text, words", [
    ("{not json", "not JSON"),
    (json.dumps({"type": "Point", "coordinates": [120.1, 30.28]}), "not a Polygon"),
    (_polygon(SQUARE[:3]), "fewer than 4"),
    (_polygon(SQUARE[:-1] + [[120.1, 30.281]]), "not closed"),
    (_polygon([[30.28, 120.1], [30.28, 200.0], [30.3, 120.1], [30.28, 120.1]]), "outside longitude/latitude"),
    (_polygon([[120.1, 30.28], ["x", 30.28], [120.1, 30.29], [120.1, 30.28]]), "not a pair of numbers"),
    (_polygon([[120.1, 30.28], [120.102, 30.282], [120.102, 30.28], [120.1, 30.282], [120.1, 30.28]]),
     "Self-intersection"),
])
def test_broken_outlines_are_named(text, words):
    assert words in geo.polygon_problem(text)


def test_map_columns_read_back_in_lon_lat_order_to_a_tenth_of_a_metre():
    cells = [{"id": 1, "code": "G01-01", "name": "翠苑一区", "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
              "occupied": 10, "visited": 7, "attempted": 2}]
    points = [{"kind": "h", "id": 9, "lon": 120.1015, "lat": 30.2815, "counts": [0, 0, 1, 0, 0]},
              {"kind": "b", "id": 5, "lon": 120.1012345678, "lat": 30.2812345678, "counts": [1, 0, 2, 3, 0]}]
    document = json.loads(geo.map_columns(cells, points, lambda lon, lat: (lon, lat),
                                          {"statuses": list(rules.STATUSES)}))
    assert document["points"]["buildings"] == 1  # buildings first
    found = geo.read_map_columns(document)
    assert found["points"] == {"b5": {"lon": 120.101235, "lat": 30.281235, "n": [1, 0, 2, 3, 0]},
                               "h9": {"lon": 120.1015, "lat": 30.2815, "n": [0, 0, 1, 0, 0]}}
    cell = found["cells"]["c1"]
    assert (cell["code"], cell["name"], cell["visited"], cell["attempted"]) == ("G01-01", "翠苑一区", 7, 2)
    # A square is its own simplification: every band draws the stored ring (Leaflet closes it).
    assert all(band == [[[tuple(p) for p in SQUARE[:-1]]]] for band in cell["outlines"])


def test_map_columns_shift_every_point_and_polygon_through_the_given_function():
    cells = [{"id": 1, "code": "C", "name": "C", "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
              "occupied": 0, "visited": 0, "attempted": 0}]
    points = [{"kind": "h", "id": 1, "lon": 120.1, "lat": 30.28, "counts": [0, 0, 1, 0, 0]}]
    found = geo.read_map_columns(json.loads(geo.map_columns(cells, points, geo.wgs84_to_gcj02,
                                                            {"statuses": list(rules.STATUSES)})))
    for band in found["cells"]["c1"]["outlines"]:
        assert rules.distance_m(*band[0][0][0], *geo.wgs84_to_gcj02(*SQUARE[0])) < 0.2
    assert rules.distance_m(found["points"]["h1"]["lon"], found["points"]["h1"]["lat"],
                            *geo.wgs84_to_gcj02(120.1, 30.28)) < 0.2


def test_map_collection_merges_a_building_across_cells_and_counts_what_it_cannot_draw():
    groups = [
        {"cell_id": 1, "building_id": 7, "house_id": None, "lon": 120.1, "lat": 30.28, "counts": [1, 0, 2, 0, 0],
         "occupied": 3, "visited": 1, "attempted": 1},
        {"cell_id": 2, "building_id": 7, "house_id": None, "lon": 120.1, "lat": 30.28, "counts": [0, 0, 0, 4, 0],
         "occupied": 4, "visited": 4, "attempted": 0},
        {"cell_id": 2, "building_id": None, "house_id": 9, "lon": None, "lat": None, "counts": [0, 0, 1, 0, 0],
         "occupied": 1, "visited": 0, "attempted": 0},
        {"cell_id": 2, "building_id": None, "house_id": 10, "lon": 120.2, "lat": 30.3, "counts": [0, 0, 0, 0, 0],
         "occupied": 1, "visited": 1, "attempted": 0},
    ]
    cells = [{"id": 1, "code": "A", "name": "甲", "geometry": _polygon(SQUARE)},
             {"id": 2, "code": "B", "name": "乙", "geometry": "[1, 2"}]
    collection = geo.map_collection(groups, cells, lambda lon, lat: (lon, lat), rules.STATUSES)
    parsed = json.loads(collection["text"])
    found = geo.read_map_columns(parsed)
    assert list(found["cells"]) == ["c1"] and list(found["points"]) == ["b7"]
    assert found["points"]["b7"]["n"] == [1, 0, 2, 4, 0]
    assert {k: v for k, v in found["cells"]["c1"].items() if k != "outlines"} == {
        "code": "A", "name": "甲", "occupied": 3, "visited": 1, "attempted": 1}
    assert collection["households"] == 7 and collection["unplaced"] == 1
    assert collection["broken"] == [{"id": 2, "code": "B", "name": "乙", "problem": "not JSON"}]
    assert parsed["brokenCells"] == ["B"]
