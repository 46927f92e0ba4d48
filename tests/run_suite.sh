#!/usr/bin/env bash
# `make test`: the whole suite on SQLite and, alongside it, on a throwaway PostgreSQL cluster that the run makes
# itself (tests/engines.py). The two runs share the machine's cores: a PostgreSQL test spends much of its time
# waiting for the server, which a SQLite test does not. Without PostgreSQL's server the second run is left out
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
# On PostgreSQL in two processes, each with its own cluster: the browser tests and the others.
browser_log=$(mktemp)
others_log=$(mktemp)
FIELDAPP_TEST_ENGINE=postgresql "$python" -m pytest -q -p no:cacheprovider tests/browser "$@" >"$browser_log" 2>&1 &
browser_run=$!
FIELDAPP_TEST_ENGINE=postgresql "$python" -m pytest -q -p no:cacheprovider --ignore=tests/browser "$@" >"$others_log" 2>&1 &
others_run=$!
trap 'kill "$browser_run" "$others_run" 2>/dev/null; rm -f "$browser_log" "$others_log"' INT TERM
echo "== the suite on SQLite (on PostgreSQL alongside: its output follows)"
"$python" -m pytest -q "$@"
sqlite=$?
wait "$others_run"
others=$?
wait "$browser_run"
browser=$?
echo
echo "== the suite on PostgreSQL, without the browser tests"
cat "$others_log"
echo
echo "== the browser tests on PostgreSQL"
cat "$browser_log"
rm -f "$browser_log" "$others_log"
passed() { [ "$1" -eq 0 ] && echo passed || echo FAILED; }
echo
echo "SQLite: $(passed $sqlite); PostgreSQL: $(passed $others), its browser tests: $(passed $browser)"
[ $sqlite -eq 0 ] && [ $others -eq 0 ] && [ $browser -eq 0 ]
