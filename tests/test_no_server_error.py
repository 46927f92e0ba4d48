"""No GET route answers 500, whatever its path and query string hold: every GET rule of the URL map, as
anon, member, leader and admin, with path arguments from a small world (and huge ones), and query strings
made of the keys the views read (plus random ones) with extreme values. The sync API's JSON is fuzzed by
schemathesis in test_openapi.py."""
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.conftest import AuthActions

ROLES = ("anon", "member", "leader", "admin")
EXAMPLES = 3  # generated per route and role, after the explicit ones (the values most likely to break a view)

# The values most likely to break a view, by kind: each is tried alone on every key of its kind (the explicit
# examples), and they are the likeliest draws of the strategies below.
HUGE = ["99999999999999999999", str(2**63), str(2**63 - 1), "1" + "0" * 5000]
EXTREMES = {
    "number": [*HUGE, "0", "-1", "²", "١٢", "1e309", "nan", " 7 "],
    "date": ["0001-01-01", "9999-12-31", "2026-02-30", "1999-12-31", "2100-01-01", "-2026-01-01", "²"],
    "month": ["0001-01", "9999-12", "0000-01", "2026-13", "99999999999999999999-01", "²-1"],
    "text": ["\x00", "a" * 5000, "%ff", "²", "𝕏零"],
}
ODD_TEXT = ["", " ", "零距离", "'; DROP TABLE users; --", "<script>", "../../etc/passwd", "on", "1", "all",
            "xlsx", "csv", "nearest", "due", "open", "medical", "current", "last-month", "1,2,3"]
STRATEGIES = {
    "number": st.one_of(st.sampled_from(EXTREMES["number"]), st.integers().map(str)),
    "date": st.one_of(st.sampled_from(EXTREMES["date"]), st.dates().map(str)),
    "month": st.one_of(st.sampled_from(EXTREMES["month"]), st.tuples(st.integers(-1, 10_000), st.integers(-1, 13))
                       .map(lambda p: f"{p[0]:04d}-{p[1]:02d}")),
    "text": st.one_of(st.sampled_from(EXTREMES["text"] + ODD_TEXT), st.text(max_size=80)),
}
STRATEGIES["ids"] = st.lists(STRATEGIES["number"], max_size=4).map(",".join)
ANY = st.one_of(*STRATEGIES.values())

# What the views read from the query string (see each view), and what kind of value each key is.
KINDS = {"page": "number", "cell": "number", "member": "number", "grid": "number", "building": "number",
         "responsible": "number", "household": "number", "target_id": "number", "before": "number",
         "shown": "number",
         "lat": "number", "lon": "number",
         "raised_from": "date", "raised_to": "date", "start": "date", "end": "date", "from": "date", "to": "date",
         "until": "date", "on": "date", "period": "month"}
PERIOD = ("period", "start", "end", "grid")
MAP = ("not_visited", "open_requests", "status", "cell", "member", "tag")
KEYS = {
    "households.mine": ("q", "status", "tag", "building", "order", "lat", "lon"),
    "households.show": ("saved",),
    "coverage.index": (*PERIOD, "members"),
    "coverage.not_visited": (*PERIOD, "cell", "member", "shown"),
    "coverage.print_view": PERIOD,
    "coverage.export": (*PERIOD, "format", "table"),
    "ledger.index": ("status", "category", "cell", "responsible", "overdue", "raised_from", "raised_to", "page"),
    "ledger.new": ("household", "q"),
    "accountability.export": ("format", "table"),
    "admin.export_form": ("from", "until"),
    "admin.export": ("from", "until"),
    "map.index": MAP, "map.data": MAP, "map.building": MAP, "map.shift": ("lon", "lat"),
    "privacy.audit_log": ("user", "action", "target_type", "target_id", "from", "to", "ip", "before"),
    "privacy.residents": ("q",),
    "auth.login": ("next",),
    "assignments.cell": ("on",),
}
EVERY_PAGE = ("lang",)
# A date range's two keys, tried together: one end far out with the other sane, and all of history.
RANGES = (("start", "end"), ("raised_from", "raised_to"), ("from", "to"), ("from", "until"))
RANGE_VALUES = (("0001-01-01", "2026-01-01"), ("2026-01-01", "9999-12-31"), ("0001-01-01", "9999-12-31"),
                ("2000-01-01", "2026-12-31"), ("2026-02-30", "2026-03-01"))
# Path arguments of a string or path converter, by name: real values first, then odd ones.
STRINGS = {"kind": ["households", "cells", "buildings", "visits", "x" * 300, "..", "零"],
           "fmt": ["csv", "json", "xlsx", "geojson", "exe"],
           "filename": ["css/app.css", "../pyproject.toml", "nope/../../x", "%00", "a" * 300]}
ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def value_of(key):
    """The strategy of a query key's values: its kind's, sometimes anything, sometimes repeated."""
    one = st.one_of(STRATEGIES[KINDS.get(key, "text")], ANY)
    return st.one_of(one, st.lists(one, min_size=2, max_size=3))


def queries(endpoint):
    """Query strings for endpoint: some of the keys its view reads, plus random keys, as (key, value) pairs."""
    known = st.fixed_dictionaries({}, optional={key: value_of(key) for key in (*KEYS.get(endpoint, ()), *EVERY_PAGE)})
    others = st.dictionaries(st.text(min_size=1, max_size=12), value_of(""), max_size=2)

    def pairs(parts):
        found = []
        for key, value in {**parts[1], **parts[0]}.items():
            found.extend((key, v) for v in (value if isinstance(value, list) else [value]))
        return found

    return st.tuples(known, others).map(pairs)


def arguments(rule, world):
    """Each path argument of rule: (name, converter, its real values)."""
    found = []
    for converter, name in ARGUMENT.findall(rule.rule):
        real = [str(i) for i in world["ids"].get(name, [])] if converter == "int" else \
            world["strings"].get(name, []) + STRINGS.get(name, [])
        found.append((name, converter, real or ["1" if converter == "int" else "x"]))
    return found


def fill(rule, values):
    """The path of rule with its arguments' values (URL-quoted but for a path's slashes)."""
    quoted = {name: quote(value, safe="/" if converter == "path" else "") for name, (converter, value) in values.items()}
    return ARGUMENT.sub(lambda match: quoted[match.group(2)], rule.rule)


def paths(rule, world):
    """Paths of rule with its arguments filled: ids of the world's records, huge numbers, odd strings."""
    parts = {}
    for name, converter, real in arguments(rule, world):
        if converter == "int":
            value = st.one_of(st.sampled_from(real + HUGE + ["0"]), st.integers(min_value=0).map(str))
        else:
            value = st.one_of(st.sampled_from(real), st.text(min_size=1, max_size=40))
        parts[name] = value.map(lambda text, converter=converter: (converter, text))
    return st.fixed_dictionaries(parts).map(lambda values: fill(rule, values))


def explicit_examples(rule, world):
    """(path, query) pairs tried first: every key the view reads alone with each extreme of its kind, the two
    ends of each date range together, and each numeric path argument huge, the other arguments real."""
    arguments_of = arguments(rule, world)
    real = {name: (converter, values[0]) for name, converter, values in arguments_of}
    keys = KEYS.get(rule.endpoint, ())
    found = [(fill(rule, real), [(key, value)]) for key in keys for value in EXTREMES[KINDS.get(key, "text")]]
    found += [(fill(rule, real), [(first, low), (last, high)]) for first, last in RANGES
              if first in keys and last in keys for low, high in RANGE_VALUES]
    for name, converter, _values in arguments_of:
        if converter == "int":
            found += [(fill(rule, {**real, name: (converter, huge)}), []) for huge in HUGE[:2]]
    return found


@pytest.fixture
def world(app, db):
    """Two grids, a cell each, a building, households with residents, visits and requests; a client per role."""
    grid_a, grid_b = factories.make_grid(db), factories.make_grid(db)
    own, other = factories.make_cell(db, grid_a, lon=120.10), factories.make_cell(db, grid_b, lon=120.12)
    member = factories.make_user(db, "member", "m1")
    factories.make_user(db, "leader", "lead", grid_id=grid_a)
    admin = factories.make_user(db, "admin", "boss")
    factories.assign(db, own, member)
    building = factories.make_building(db, own)
    households = [factories.make_household(db, own, building), factories.make_household(db, own),
                  factories.make_household(db, other)]
    residents = [factories.make_resident(db, h, tags=("elderly_alone",) if i == 0 else ()) for i, h in
                 enumerate(households)]
    visits = [factories.make_visit(db, h, member) for h in households[:2]]
    requests = [factories.make_request(db, h, member) for h in households]
    clients = {"anon": app.test_client()}
    for role, username in (("member", "m1"), ("leader", "lead"), ("admin", "boss")):
        clients[role] = app.test_client()
        AuthActions(clients[role]).login(username)
    ids = {"household_id": households, "resident_id": residents, "visit_id": visits, "request_id": requests,
           "cell_id": [own, other], "building_id": [building], "user_id": [member, admin]}
    return {"clients": clients, "ids": ids, "strings": {"token": [factories.make_upload(db, "boss")]}}


def failure_lines(error):
    """The first line of each failure in error (hypothesis groups the failing explicit examples)."""
    if isinstance(error, BaseExceptionGroup):
        return [line for inner in error.exceptions for line in failure_lines(inner)]
    return [str(error).splitlines()[0]]


def get_rules(app):
    """Every GET rule of the URL map."""
    return sorted((rule for rule in app.url_map.iter_rules() if "GET" in rule.methods), key=lambda r: r.rule)


def test_the_keys_name_routes_that_exist(app):
    assert sorted(set(KEYS) - {rule.endpoint for rule in get_rules(app)}) == []


@pytest.mark.parametrize("role", ROLES)
def test_no_get_route_answers_500(app, world, role):
    client = world["clients"][role]
    failures = []
    for rule in get_rules(app):
        def answers_without_a_server_error(path, query):
            try:
                response = client.get(path, query_string=query)
            except Exception as error:  # the test app propagates what would be a 500
                raise AssertionError(f"GET {path} {query!r} as {role} raised {error!r}") from error
            assert response.status_code != 500, f"GET {path} {query!r} as {role}"

        for path, query in explicit_examples(rule, world):
            answers_without_a_server_error = example(path=path, query=query)(answers_without_a_server_error)
        answers_without_a_server_error = settings(
            max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )(given(path=paths(rule, world), query=queries(rule.endpoint))(answers_without_a_server_error))
        try:
            answers_without_a_server_error()
        except Exception as error:  # every route's failures, not only the first route's
            failures.extend(failure_lines(error))
    assert not failures, "\n".join(failures)
