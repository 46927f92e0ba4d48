"""The grid leader's map: cells shaded by coverage, households per building by status, filters, popups.

map_element (folium) builds the map element and its set-up script (tiles, view); the cells and the households
come as columns from data() (geo.map_columns), read and clustered in static/js/map-worker.js, drawn by
static/js/map.js.
"""
import functools
import gzip
import hashlib
import threading
from collections import OrderedDict

from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from fieldapp import access, geo, rules
from fieldapp.data import cells, households, mapdata
from fieldapp.clock import clock
from fieldapp.db import get_db
from fieldapp.map_element import TILES, map_element
from fieldapp.templating import render, tag_token

bp = Blueprint("map", __name__, url_prefix="/map")

LEAFLET = "vendor/leaflet-1.9.4/"
# In the order of the form's fields: the page preloads the very URL map-start.js then fetches.
FILTERS = ("not_visited", "open_requests", "status", "cell", "member", "tag")


def tiles_setting():
    """The tile provider to draw, and for the admin why the configured one is not drawn (or None)."""
    tiles = current_app.config["TILES"]
    if tiles not in TILES:
        return "none", _("FIELDAPP_TILES=%(value)s is unknown: the map is drawn without tiles.", value=tiles)
    if tiles == "tianditu" and not current_app.config["TIANDITU_KEY"]:
        return "none", _("Tianditu tiles need FIELDAPP_TIANDITU_KEY: the map is drawn without tiles.")
    return tiles, None


def display_shift(tiles):
    """How a stored WGS-84 position is drawn on tiles: shifted to GCJ-02 on Gaode's, else unchanged.

    The one place that decides it: the map data, the initial view and "Locate me" all go through here.
    """
    return geo.wgs84_to_gcj02 if tiles == "gaode" else (lambda lon, lat: (lon, lat))


def map_parts(db, scope, tiles):
    """The map element (HTML), its set-up script and the assets it needs, for scope on tiles."""
    box = mapdata.bounds(db, scope)
    bounds = None
    if box is not None:
        shift = display_shift(tiles)
        west, south = shift(box["min_lon"], box["min_lat"])
        east, north = shift(box["max_lon"], box["max_lat"])
        bounds = ((south, west), (north, east))
    return map_element(tiles, current_app.config["TIANDITU_KEY"], bounds,
                       url_for("static", filename=LEAFLET + "leaflet.js"),
                       url_for("static", filename=LEAFLET + "leaflet.css"))


def filter_options(db, scope, asked=None):
    """What the filters offer within scope: cells, responsible members, tags.

    asked: the request's arguments, to load only the lists needed to check them (None: every list, for
    the page's selects); the data and popups then skip the queries of the filters they do not use.
    """
    def wanted(name):
        return asked is None or bool(asked.get(name))

    return {"cells": mapdata.cells_in(db, scope, outline=False) if wanted("cell") else [],
            "members": mapdata.members_in(db, scope, rules.iso(rules.utcnow())) if wanted("member") else [],
            "tags": mapdata.tags(db) if wanted("tag") else []}


def parse_filters(args, options):
    """Read the map's filters from args; unknown values are dropped and named in notices."""
    filters = {name: None for name in FILTERS}
    notices = []
    tags = {tag_token(t["code"]): t["code"] for t in options["tags"]}  # URLs carry tokens, never tag codes
    known = {"status": set(rules.STATUSES), "tag": set(tags),
             "cell": {str(c["id"]) for c in options["cells"]}, "member": {str(m["id"]) for m in options["members"]}}
    unknown = {"status": _("Unknown status filter ignored."), "tag": _("Unknown tag filter ignored."),
               "cell": _("Unknown cell filter ignored."), "member": _("Unknown member filter ignored.")}
    for name, values in known.items():
        value = args.get(name, "")
        if value in values:
            filters[name] = int(value) if name in ("cell", "member") else tags[value] if name == "tag" else value
        elif value:
            notices.append(unknown[name])
    for name in ("not_visited", "open_requests"):
        value = args.get(name, "")
        if value in ("1", "on"):
            filters[name] = True
        elif value:
            notices.append(_("Unknown value of a quick filter ignored."))
    filters["cell_ids"] = _chosen_cells(filters, options)
    return filters, notices


def _chosen_cells(filters, options):
    """The cells the cell and member filters leave (None: no such filter)."""
    chosen = None
    if filters["cell"]:
        chosen = {filters["cell"]}
    if filters["member"]:
        member = next(m for m in options["members"] if m["id"] == filters["member"])
        chosen = set(member["cells"]) if chosen is None else chosen & set(member["cells"])
    return None if chosen is None else sorted(chosen)


def filter_query(filters):
    """The filters as URL parameters (empty ones left out)."""
    query = {name: filters[name] for name in FILTERS if filters[name]}
    if "tag" in query:
        query["tag"] = tag_token(query["tag"])
    return {name: (1 if value is True else value) for name, value in query.items()}


def matches(household, filters):
    """Whether a household (a row of households.with_status) passes the map's filters, tag aside."""
    if filters["status"] and household["status"] != filters["status"]:
        return False
    if filters["not_visited"] and not (household["needs_visit"] and household["occupancy"] == "occupied"):
        return False
    if filters["open_requests"] and not household["open_requests"]:
        return False
    return filters["cell_ids"] is None or household["cell_id"] in filters["cell_ids"]


# The encoded map per (database state, day, scope, filters, tiles): a leader opening the map again, or
# the page and its data request, cost one build. mapdata.data_version tells when the data changed.
_payloads = OrderedDict()
_payloads_lock = threading.Lock()
PAYLOADS_KEPT = 16


def map_payload(db, scope, filters, tiles):
    """The map's columns for scope and filters, gzipped, with its ETag and the cells it could not draw."""
    now = clock(db)
    path = current_app.config["DATABASE"]
    cells_key = (path, mapdata.data_version(db, path), now["today"], now["offset"], now["default_cycle"],
                 now["phone_calls_weekly"], None if scope is None else tuple(scope), tiles)
    key = (*cells_key, tuple(filter_query(filters).items()))
    with _payloads_lock:
        if key in _payloads:
            _payloads.move_to_end(key)
            return _payloads[key]
    # The cells and their coverage do not depend on the filters: the same version tells map-worker.js to keep
    # the outlines it has drawn.
    cells_version = hashlib.sha256(repr(cells_key).encode()).hexdigest()[:16]
    payload = _build_payload(db, now, scope, filters, tiles, cells_version)
    payload["etag"] = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    with _payloads_lock:
        _payloads[key] = payload
        while len(_payloads) > PAYLOADS_KEPT:
            _payloads.popitem(last=False)
    return payload


@functools.lru_cache(maxsize=4096)
def _outline(text, tiles):
    """geo.cell_outline of an outline text on tiles, made once: a district's outlines checked and simplified
    take longer than its households' statuses, and change far less often."""
    return geo.cell_outline(text, display_shift(tiles))


def broken_cells(db, scope, tiles):
    """The cells of scope whose outline cannot be drawn, with the problem. The page asks without building the
    map's data: its data request, perhaps on another server process, builds it once."""
    return [{"id": cell["id"], "code": cell["code"], "name": cell["name"], "problem": problem}
            for cell in mapdata.cells_in(db, scope) for problem in [_outline(cell["geometry"], tiles)[0]] if problem]


def _build_payload(db, now, scope, filters, tiles, cells_version):
    """Encode the cells and the households per building or house of scope as gzipped columns."""
    collection = geo.map_collection(mapdata.point_groups(db, now, scope, filters), mapdata.cells_in(db, scope),
                                    display_shift(tiles), rules.STATUSES, {"cellsVersion": cells_version},
                                    outline=lambda text: _outline(text, tiles))
    text = collection.pop("text").encode()
    return {**collection, "gzip": gzip.compress(text, compresslevel=6, mtime=0), "bytes": len(text)}


def _context(db, page=False):
    """The signed-in user's scope, the filter options (all for a page) and the filters of this request."""
    scope = access.cell_scope(db, current_user)
    options = filter_options(db, scope, None if page else request.args)
    filters, notices = parse_filters(request.args, options)
    return scope, options, filters, notices


@bp.route("/")
@login_required
def index():
    """The map page: cells by coverage, buildings and houses by status, filters, legend."""
    db = get_db()
    scope, options, filters, notices = _context(db, page=True)
    tiles, tiles_problem = tiles_setting()
    parts = map_parts(db, scope, tiles)
    return render("map/index.html", map=parts, tiles=tiles, options=options, filters=filters, notices=notices,
                  tiles_problem=tiles_problem if current_user.role == "admin" else None,
                  broken=broken_cells(db, scope, tiles), data_url=url_for("map.data", **filter_query(filters)),
                  no_cells=scope is not None and not scope)


@bp.route("/setup.js")
@login_required
def setup_js():
    """folium's script for the map element: tiles and the initial view of the user's cells."""
    db = get_db()
    tiles, _problem = tiles_setting()
    script = map_parts(db, access.cell_scope(db, current_user), tiles)["script"]
    return Response(script, mimetype="text/javascript", headers={"Cache-Control": "private, no-cache"})


@bp.route("/data.geojson")
@login_required
def data():
    """The map's data: the cells and the households per building or house, in columns (geo.map_columns)."""
    db = get_db()
    scope, _options, filters, _notices = _context(db)
    payload = map_payload(db, scope, filters, tiles_setting()[0])
    zipped = "gzip" in request.headers.get("Accept-Encoding", "")
    etag = payload["etag"] + ("-gz" if zipped else "")  # two encodings, two representations
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"', "Cache-Control": "private, no-cache",
                                             "Vary": "Accept-Encoding"})
    response = Response(payload["gzip"] if zipped else gzip.decompress(payload["gzip"]),
                        mimetype="application/json")
    if zipped:
        response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.route("/shift")
@login_required
def shift():
    """Where a phone's WGS-84 position is drawn on the configured tiles (for "Locate me")."""
    try:
        lon, lat = float(request.args["lon"]), float(request.args["lat"])
    except (KeyError, ValueError):
        abort(400)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        abort(400)
    lon, lat = display_shift(tiles_setting()[0])(lon, lat)
    return {"lon": round(lon, 7), "lat": round(lat, 7)}


def _counts(rows):
    """How many of rows have each status, most urgent first."""
    return {status: sum(1 for row in rows if row["status"] == status) for status in rules.STATUSES}


@bp.route("/buildings/<int:building_id>")
@login_required
def building(building_id):
    """A building's popup: its households by status, how many were attempted in vain, and the list of those
    matching the filters."""
    db = get_db()
    scope, _options, filters, _notices = _context(db)
    found = access.building_or_404(db, current_user, building_id)
    now = clock(db)
    everyone = households.with_status(db, now, cell_ids=scope, building_id=building_id)
    shown = everyone
    if filters["tag"]:
        shown = households.with_status(db, now, cell_ids=scope, building_id=building_id, tag=filters["tag"])
    shown = sorted((h for h in shown if matches(h, filters)), key=rules.urgency_key)
    return render("map/building.html", "map/_building.html", building=found, counts=_counts(everyone),
                  attempted=sum(1 for h in everyone if h["attempted"] and h["occupancy"] == "occupied"),
                  households=shown, total=len(everyone), filtered=bool(filter_query(filters)))


@bp.route("/households/<int:household_id>")
@login_required
def household(household_id):
    """A standalone house's popup: address, status, last visit, a link to its page."""
    db = get_db()
    access.household_or_404(db, current_user, household_id)
    state = households.with_status(db, clock(db), household_id=household_id)[0]
    return render("map/household.html", "map/_household.html", household=state)


@bp.route("/cells/<int:cell_id>")
@login_required
def cell(cell_id):
    """A cell's popup: coverage of the current cycle (contacted and attempted), households by status, responsible
    members."""
    db = get_db()
    found = access.cell_or_404(db, current_user, cell_id)
    groups = mapdata.point_groups(db, clock(db), [cell_id])
    occupied = sum(g["occupied"] for g in groups)
    visited = sum(g["visited"] for g in groups)
    attempted = sum(g["attempted"] for g in groups)
    counts = {status: sum(g["counts"][rank] for g in groups) for rank, status in enumerate(rules.STATUSES)}
    # The cell's own list of households still to visit, where the coverage pages provide one.
    to_visit = (url_for("coverage.not_visited", cell=cell_id)
                if "coverage.not_visited" in current_app.view_functions else None)
    return render("map/cell.html", "map/_cell.html", cell=found, occupied=occupied, visited=visited,
                  attempted=attempted,
                  counts=counts, members=cells.responsible_members(db, cell_id, rules.iso(rules.utcnow())),
                  checklist=current_user.role in ("leader", "admin"), to_visit=to_visit)
