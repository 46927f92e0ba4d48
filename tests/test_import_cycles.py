"""No import cycle among fieldapp's modules: every module's imports walked with ast, those inside functions too."""
import ast
from pathlib import Path

import fieldapp

PACKAGE_DIR = Path(fieldapp.__file__).parent

def modules(package_dir):
    """Every module under package_dir by dotted name (a package by its own name), with its file."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = (package_dir.name,) + path.relative_to(package_dir).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _within(name, known):
    """The longest leading part of dotted name that is one of the known modules, or None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return None


def imports_of(name, path, known):
    """The known modules that module name (at path) imports anywhere in its body, functions included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(_within(alias.name, known) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                # `from a import b` imports the module a.b if there is one, else the name b of module a.
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else _within(base, known))
    found.discard(None)
    return found


def import_graph(package_dir):
    """Each module of the package and the package's modules it imports."""
    known = modules(package_dir)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def _reachable(graph, start):
    """The modules that importing start leads to, directly or through others."""
    seen, todo = set(), list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def cycles(graph):
    """The groups of modules that import each other in a circle (each group sorted, the groups too)."""
    reach = {name: _reachable(graph, name) for name in graph}
    return sorted({tuple(sorted(other for other in reach[name] if name in reach[other]))
                   for name in graph if name in reach[name]})


def test_no_import_cycle_among_fieldapp_modules():
    assert cycles(import_graph(PACKAGE_DIR)) == []


def write_package(root, files):
    """A package named pkg under root with the given {relative path: source} files."""
    for relative, source in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root / "pkg"


def test_an_import_inside_a_function_makes_a_cycle(tmp_path):
    package = write_package(tmp_path, {
        "__init__.py": "",
        "web.py": "from pkg import security\n",
        "security.py": "def _db():\n    from pkg.web import get_db\n    return get_db()\n",
        "rules.py": "import pkg.data.db\n",
        "data/__init__.py": "",
        "data/db.py": "",
    })
    assert cycles(import_graph(package)) == [("pkg.security", "pkg.web")]


def test_the_package_itself_and_relative_imports_count(tmp_path):
    package = write_package(tmp_path, {
        "__init__.py": "def create_app():\n    from . import cli\n",
        "cli.py": "from .data import db\n\ndef main():\n    from . import backup\n",
        "backup.py": "from pkg import DEFAULTS\n",
        "data/__init__.py": "",
        "data/db.py": "from ..data import migrations\n",
        "data/migrations.py": "",
    })
    assert cycles(import_graph(package)) == [("pkg", "pkg.backup", "pkg.cli")]
