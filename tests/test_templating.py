"""The template environment: a plain dict's keys found directly, every template rendering as with Jinja's own."""
from collections import OrderedDict, defaultdict

import flask.templating
import jinja2
import pytest
from jinja2.sandbox import SandboxedEnvironment

from fieldapp import App, templating


class Household:
    """An object with attributes, as a template may be given one."""

    name = "object attribute"
    _private = "underscore attribute"

    def __getitem__(self, key):
        """Any item, named after its key."""
        return f"item {key}"


class Lenient:
    """An object that answers any attribute."""

    def __getattr__(self, attribute):
        """Any attribute, named after itself."""
        return f"made up {attribute}"


class SandboxedDictKeysFirst(templating.DictKeysFirst, SandboxedEnvironment):
    """The dict shortcut in front of Jinja's sandbox: it must not let through what the sandbox refuses."""


ROW = {"name": "dict key", "items": "key named like a method", "__class__": "dunder key", "_hidden": "underscore",
       "none": None, 1: "int key", "a-b": "dashed"}
ROWS = [ROW, {"name": "second"}]
OBJ, LENIENT = Household(), Lenient()
TEMPLATES = [
    "{{ row.name }}", "{{ row.items }}", "{{ row.items() | list | length }}", "{{ row.__class__ }}",
    "{{ row.__class__.__name__ }}", "{{ row._hidden }}", "{{ row.none }}", "{{ row[1] }}", "{{ row['a-b'] }}",
    "{{ row.get('name') }}", "{{ row | attr('name') }}", "{{ rows | map(attribute='name') | join(',') }}",
    "{{ rows | selectattr('name', 'equalto', 'second') | list | length }}", "{{ rows | sort(attribute='name') }}",
    "{{ obj.name }}", "{{ obj._private }}", "{{ obj.missing }}", "{{ lenient.name }}", "{{ ordered.name }}",
    "{{ ordered.move_to_end is callable }}", "{{ counts.name }}", "{{ counts.default_factory }}",
    "{{ counts.missing }}", "{{ counts.missing }}{{ counts | length }}", "{{ text.upper() }}",
    "{{ row.missing }}", "{{ row.missing is defined }}", "{{ row.missing | default('none') }}",
    "{{ row.missing.deeper }}", "{{ nothing.name }}", "{{ row.__class__.__mro__ }}", "{{ row.items.__self__ }}",
    "{{ text.format }}", "{{ '{0.__class__}'.format(row) }}", "{% set ns = namespace(name='ns') %}{{ ns.name }}",
]


def outcome(environment, source):
    """What rendering source gives: its text, or the error raised (type and message)."""
    # The same objects each time (reprs name their addresses); a fresh defaultdict (a lookup adds its key).
    context = {"row": ROW, "rows": ROWS, "obj": OBJ, "lenient": LENIENT, "text": "abc",
               "ordered": OrderedDict(name="ordered key", move_to_end="key named like a method"),
               "counts": defaultdict(int, name=3, default_factory=4)}
    try:
        return "text", environment.from_string(source).render(**context)
    except Exception as error:  # the same error is as much the same behaviour as the same text
        return "error", type(error).__name__, str(error)


@pytest.mark.parametrize("undefined", [jinja2.Undefined, jinja2.StrictUndefined, jinja2.ChainableUndefined])
@pytest.mark.parametrize("source", TEMPLATES)
def test_templates_render_as_with_jinjas_own_lookup(app, source, undefined):
    ours = templating.Environment(app, undefined=undefined, autoescape=True)
    jinjas = flask.templating.Environment(app, undefined=undefined, autoescape=True)
    assert outcome(ours, source) == outcome(jinjas, source)


@pytest.mark.parametrize("undefined", [jinja2.Undefined, jinja2.StrictUndefined])
@pytest.mark.parametrize("source", TEMPLATES)
def test_sandboxed_templates_render_as_in_jinjas_sandbox(source, undefined):
    ours = SandboxedDictKeysFirst(undefined=undefined)
    assert outcome(ours, source) == outcome(SandboxedEnvironment(undefined=undefined), source)


def test_a_key_named_like_an_unsafe_attribute_is_still_refused_by_the_sandbox():
    refused = outcome(SandboxedDictKeysFirst(undefined=jinja2.StrictUndefined), "{{ row.__class__ }}")
    assert refused[:2] == ("error", "SecurityError")


def test_the_app_uses_the_environment_through_flasks_hook(app):
    assert App.jinja_environment is templating.Environment
    assert type(app.jinja_env) is templating.Environment
    assert "getattr" not in vars(app.jinja_env)  # not an attribute overwritten at start


def test_a_dicts_key_is_found_without_jinjas_attribute_detour(app, monkeypatch):
    calls = []
    own_getattr = jinja2.Environment.getattr

    def counting(environment, obj, attribute):
        """Jinja's own lookup, noted."""
        calls.append(attribute)
        return own_getattr(environment, obj, attribute)

    monkeypatch.setattr(jinja2.Environment, "getattr", counting)
    template = app.jinja_env.from_string("{{ row.name }} {{ row.items is callable }} {{ obj.name }} {{ row.missing }}")
    assert template.render(row={"name": "A", "items": "B"}, obj=Household()) == "A True object attribute "
    assert calls == ["items", "name", "missing"]  # dict's own attribute, an object, a missing key: Jinja's way
