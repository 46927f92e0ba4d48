#!/usr/bin/env bash
# `make test`: the whole suite on SQLite and, alongside it, on a throwaway PostgreSQL cluster that the run makes
# itself (tests/engines.py). The runs share the machine's cores: a PostgreSQL test spends much of its time
# waiting for the server, and a browser test waiting for chromium, which a SQLite test does not. Without PostgreSQL's server the second run is left out
# with a line saying so, except in CI (CI or FIELDAPP_REQUIRE_POSTGRES set), where that fails the run.
set -u
python=${1:-.venv/bin/python}
shift || true
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if [ -n "${CI:-}${FIELDAPP_REQUIRE_POSTGRES:-}" ]; then
    echo "PostgreSQL's server (initdb) is missing: install Debian's postgresql package (apt-get install postgresql)." >&2
    exit 1
  fi
  echo "The PostgreSQL run is left out: its server is not installed (apt-get install postgresql)."
  exec "$python" -m pytest -q "$@"
fi
# Four processes: each engine's browser tests, which mostly wait on chromium and the served app, beside the
# rest, which keep the cores busy. Each PostgreSQL process has a cluster of its own, each SQLite one its folder.
logs=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$logs"' INT TERM
FIELDAPP_TEST_ENGINE=postgresql "$python" -m pytest -q -p no:cacheprovider tests/browser "$@" >"$logs/pg-browser" 2>&1 &
pg_browser_run=$!
FIELDAPP_TEST_ENGINE=postgresql "$python" -m pytest -q -p no:cacheprovider --ignore=tests/browser "$@" >"$logs/pg" 2>&1 &
pg_run=$!
"$python" -m pytest -q -p no:cacheprovider tests/browser "$@" >"$logs/sqlite-browser" 2>&1 &
sqlite_browser_run=$!
echo "== the suite on SQLite without the browser tests (the other runs' output follows)"
"$python" -m pytest -q --ignore=tests/browser "$@"
sqlite=$?
wait "$sqlite_browser_run"; sqlite_browser=$?
wait "$pg_run"; pg=$?
wait "$pg_browser_run"; pg_browser=$?
for run in "sqlite-browser:the browser tests on SQLite" "pg:the suite on PostgreSQL, without the browser tests" \
           "pg-browser:the browser tests on PostgreSQL"; do
  echo
  echo "== ${run#*:}"
  cat "$logs/${run%%:*}"
done
rm -rf "$logs"
passed() { [ "$1" -eq 0 ] && echo passed || echo FAILED; }
echo
echo "SQLite: $(passed $sqlite), its browser tests: $(passed $sqlite_browser); PostgreSQL: $(passed $pg), its browser tests: $(passed $pg_browser)"
[ $sqlite -eq 0 ] && [ $sqlite_browser -eq 0 ] && [ $pg -eq 0 ] && [ $pg_browser -eq 0 ]
