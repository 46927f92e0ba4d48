"""The map's Leaflet element and its set-up script, built by folium: plain data in, HTML and script out.

Only this module imports folium. What the map draws comes later from static/js/map.js; folium gives the
element, the tiles of the chosen provider and the first view.
"""
import functools
from urllib.parse import quote

import folium

NAME = "fieldapp"  # folium names the Leaflet map map_<NAME>: static/js/map.js finds it as window.map_fieldapp
DEFAULT_CENTER = (30.28, 120.10)  # Hangzhou: where a user without any cell looks first
TIANDITU = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
            "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}")
# Tile layers per provider: (url, attribution, subdomains). Tianditu: vector base, then its label layer.
TILES = {
    "tianditu": [(TIANDITU.replace("{layer}", "vec"), "&copy; 天地图 Tianditu", "01234567"),
                 (TIANDITU.replace("{layer}", "cva"), "", "01234567")],
    "gaode": [("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
               "&copy; 高德地图 AutoNavi", "1234")],
    "osm": [("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
             '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>', "abc")],
    "none": [],
}


@functools.lru_cache(maxsize=64)
def map_element(tiles, key, bounds, leaflet_js, leaflet_css):
    """The map element, its set-up script, the assets they load and the map's name, for tiles fitted to bounds.

    tiles: a provider of TILES; key: Tianditu's key; bounds: ((south, west), (north, east)) as drawn, or None
    for the default view; leaflet_js, leaflet_css: the URLs of the app's own Leaflet (no CDN). Cached: folium
    compiles its templates anew for every map it builds.
    """
    folium_map = folium.Map(location=DEFAULT_CENTER, zoom_start=14, tiles=None, control_scale=True,
                            max_zoom=19, zoom_snap=0.25)  # fractional zoom: fitBounds fills the screen
    folium_map._id = NAME  # a fixed name instead of folium's random one
    # Leaflet from static/vendor, not folium's CDNs; nothing else of folium's defaults is needed.
    folium_map.default_js = [("leaflet", leaflet_js)]
    folium_map.default_css = [("leaflet_css", leaflet_css)]
    for url, attribution, subdomains in TILES[tiles]:
        folium.TileLayer(url.replace("{key}", quote(key, safe="")), attr=attribution or " ", subdomains=subdomains,
                         max_zoom=19, max_native_zoom=18, name=tiles).add_to(folium_map)
    if bounds:
        folium_map.fit_bounds([list(corner) for corner in bounds])
    figure = folium_map.get_root()
    figure.render()
    return {"html": figure.html.render(), "script": figure.script.render(), "name": folium_map.get_name(),
            "css": [href for _name, href in folium_map.default_css],
            "js": [src for _name, src in folium_map.default_js]}
