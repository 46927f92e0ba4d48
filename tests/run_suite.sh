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
log=$(mktemp)
FIELDAPP_TEST_ENGINE=postgresql "$python" -m pytest -q -p no:cacheprovider "$@" >"$log" 2>&1 &
postgresql_run=$!
trap 'kill "$postgresql_run" 2>/dev/null; rm -f "$log"' INT TERM
echo "== the suite on SQLite (on PostgreSQL alongside: its output follows)"
"$python" -m pytest -q "$@"
sqlite=$?
wait "$postgresql_run"
postgresql=$?
echo
echo "== the suite on PostgreSQL"
cat "$log"
rm -f "$log"
echo
echo "SQLite run: $([ $sqlite -eq 0 ] && echo passed || echo FAILED); PostgreSQL run: $([ $postgresql -eq 0 ] && echo passed || echo FAILED)"
[ $sqlite -eq 0 ] && [ $postgresql -eq 0 ]
