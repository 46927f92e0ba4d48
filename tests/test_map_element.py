"""The map element from folium: tiles per provider, the first view, the app's own Leaflet; no browser."""
import json
import re

import pytest

from fieldapp.map_element import DEFAULT_CENTER, map_element

JS, CSS = "/static/vendor/leaflet-1.9.4/leaflet.js", "/static/vendor/leaflet-1.9.4/leaflet.css"
BOUNDS = ((30.28, 120.1), (30.292, 120.112))


def tile_layers(script):
    """The URL template and options of every L.tileLayer in script (a JS string, an object literal)."""
    found = re.findall(r'L\.tileLayer\(\s*("(?:[^"\\]|\\.)*"),\s*(\{.*?\})\s*\)', script, re.S)
    return [(json.loads(url), json.loads(re.sub(r",\s*\}", "}", options))) for url, options in found]


def test_tianditu_draws_its_base_and_label_layers_with_the_key_quoted():
    element = map_element("tianditu", "k3y&x", BOUNDS, JS, CSS)
    layers = tile_layers(element["script"])
    assert [url.split("/wmts")[0] for url, _options in layers] == ["https://t{s}.tianditu.gov.cn/vec_w",
                                                                   "https://t{s}.tianditu.gov.cn/cva_w"]
    assert all(url.endswith("&tk=k3y%26x") for url, _options in layers)
    assert [options["subdomains"] for _url, options in layers] == ["01234567", "01234567"]
    assert "Tianditu" in layers[0][1]["attribution"]
    assert all(options["maxNativeZoom"] == 18 and options["maxZoom"] == 19 for _url, options in layers)


@pytest.mark.parametrize("tiles, host, attribution, subdomains", [
    ("gaode", "https://webrd0{s}.is.autonavi.com/appmaptile", "AutoNavi", "1234"),
    ("osm", "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "OpenStreetMap", "abc"),
])
def test_gaode_and_osm_draw_one_layer_with_their_attribution(tiles, host, attribution, subdomains):
    layers = tile_layers(map_element(tiles, "unused", BOUNDS, JS, CSS)["script"])
    assert len(layers) == 1
    url, options = layers[0]
    assert url.startswith(host) and "tk=" not in url
    assert attribution in options["attribution"] and options["subdomains"] == subdomains


def test_no_tiles_is_a_plain_background_fitted_to_the_bounds():
    element = map_element("none", "", BOUNDS, JS, CSS)
    assert "tileLayer" not in element["script"]
    fitted = re.search(r"map_fieldapp\.fitBounds\(\s*(\[\[.*?\]\])", element["script"], re.S).group(1)
    assert json.loads(fitted) == [[30.28, 120.1], [30.292, 120.112]]


def test_without_bounds_the_map_opens_on_the_default_centre():
    script = map_element("none", "", None, JS, CSS)["script"]
    assert "fitBounds" not in script
    centre = re.search(r'L\.map\(\s*"map_fieldapp",\s*\{\s*center:\s*(\[[^\]]*\])', script).group(1)
    assert tuple(json.loads(centre)) == DEFAULT_CENTER


def test_the_element_is_named_and_loads_only_the_apps_own_leaflet():
    element = map_element("osm", "", BOUNDS, JS, CSS)
    assert element["name"] == "map_fieldapp"
    assert re.fullmatch(r'\s*<div class="folium-map" id="map_fieldapp" ></div>\s*', element["html"])
    assert (element["js"], element["css"]) == ([JS], [CSS])
    assert "<script" not in element["script"] and '"zoomSnap": 0.25' in element["script"]
