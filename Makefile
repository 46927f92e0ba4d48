# Zero Distance: `make run` starts the app on a demo database, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export FIELDAPP_DATABASE ?= $(CURDIR)/instance/fieldapp.db

.PHONY: run test setup translations demo vendor clean bench bench-quick bench-review bench-reports bench-photos \
	bench-dashboard bench-crash bench-crash-postgres bench-setup replicate replicate-setup restore-drill

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d fieldapp/translations --statistics

setup: $(VENV)/.installed translations

demo: setup
	@mkdir -p $(dir $(FIELDAPP_DATABASE))
	@if [ ! -f "$(FIELDAPP_DATABASE)" ]; then $(BIN)/fieldapp demo; fi

run: demo
	@echo ""
	@echo "Zero Distance on http://127.0.0.1:$(PORT)  (database: $(FIELDAPP_DATABASE))"
	@echo "Demo accounts, password demo1234: admin, leader1, leader2, leader3, member1 ... member12"
	@echo ""
	PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py "fieldapp:create_app()"

# The whole suite on SQLite and, alongside, on a throwaway PostgreSQL cluster that the run makes itself when Debian's
# postgresql package is installed (tests/run_suite.sh); CI (.ci/run) requires it.
test: setup
	tests/run_suite.sh $(BIN)/python

# Strings marked for translation -> fieldapp/translations/messages.pot -> the zh catalog.
extract: setup
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --width 100 -o fieldapp/translations/messages.pot .
	$(BIN)/pybabel update -i fieldapp/translations/messages.pot -d fieldapp/translations --no-fuzzy-matching --ignore-obsolete --width 100

# Refresh the vendored browser assets from the npm registry (the files themselves are committed).
VENDOR := static/vendor
vendor:
	rm -rf /tmp/fieldapp-vendor && mkdir -p /tmp/fieldapp-vendor
	cd /tmp/fieldapp-vendor && for p in htmx.org@2.0.11 leaflet@1.9.4 leaflet.markercluster@1.5.3 idb@8.0.4 supercluster@8.0.1 axe-core@4.14.1; do \
	  npm pack --silent $$p >/dev/null && mkdir -p $${p%@*} && tar xzf $${p%@*}-*.tgz -C $${p%@*} --strip-components=1; done
	cp /tmp/fieldapp-vendor/htmx.org/dist/htmx.min.js $(VENDOR)/htmx-2.0.11.min.js
	mkdir -p $(VENDOR)/leaflet-1.9.4 && cp -r /tmp/fieldapp-vendor/leaflet/dist/leaflet.js /tmp/fieldapp-vendor/leaflet/dist/leaflet.css /tmp/fieldapp-vendor/leaflet/dist/images $(VENDOR)/leaflet-1.9.4/
	mkdir -p $(VENDOR)/leaflet.markercluster-1.5.3 && cp /tmp/fieldapp-vendor/leaflet.markercluster/dist/leaflet.markercluster.js /tmp/fieldapp-vendor/leaflet.markercluster/dist/MarkerCluster*.css $(VENDOR)/leaflet.markercluster-1.5.3/
	cp /tmp/fieldapp-vendor/idb/build/umd.js $(VENDOR)/idb-8.0.4.umd.js
	cp /tmp/fieldapp-vendor/supercluster/dist/supercluster.min.js $(VENDOR)/supercluster-8.0.1.min.js
# For the accessibility test only (tests/browser/test_axe.py): no page or the service worker loads it.
	cp /tmp/fieldapp-vendor/axe-core/axe.min.js $(VENDOR)/axe-core-4.14.1.min.js

# Every performance figure next to its baseline (README: Performance): one table, bench/results.json. Pages, CPU
# per request, visit POSTs and the mixed scenario on SQLite and on a PostgreSQL cluster the bench starts itself
# (bench/postgres_server.py; without PostgreSQL's server, SQLite alone). 100,000 households (built once into
# bench/cache/, about 2 minutes; PostgreSQL's copy cached as a pg_dump), then 12-20 minutes; bench-quick: 10,000, ~8.
$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

bench-setup: setup $(VENV)/.bench-installed

bench: bench-setup
	$(BIN)/python bench/run.py

bench-quick: bench-setup
	$(BIN)/python bench/run.py --quick

# The leader's review list of the district and of one grid: the page next to a bare page of the same bytes, its
# query next to the same flags as one plain statement (bench/review.py); ENGINE=postgresql for PostgreSQL.
bench-review: bench-setup
	$(BIN)/python bench/review.py --engine $(or $(ENGINE),sqlite)

# Residents' reports: the public report POST next to a bare durable INSERT, the tracking page next to a bare page of
# the same bytes (bench/report_bench.py); ENGINE=postgresql for PostgreSQL. Not part of `make bench`.
bench-reports: bench-setup
	$(BIN)/python bench/report_bench.py --engine $(or $(ENGINE),sqlite)

# Photos from the phone in Chromium: a 4000 x 3000 camera JPEG through the phone's shrink (bytes kept and sent), and
# 100 queued photos sent over "Slow 4G" emulation, each arriving once, next to a bare fetch loop of the same bytes
# (bench/photo_bench.py; about 10 minutes, most of it the emulated upload speed). Not part of `make bench`.
bench-photos: bench-setup
	$(BIN)/python bench/photo_bench.py

# Load and crash: 50 phones for 60 s through gunicorn, SIGKILLed and restarted at 30 s; ends with
# sent=N acknowledged=N stored=N lost=0 duplicated=0 conflicts=N throughput=N/s p95=N ms
bench-crash: setup
	$(BIN)/python bench/crash_bench.py

# The same on PostgreSQL 15+ (Debian's postgresql package): the demo in a server of the bench's own, on disk with
# fsync on, removed afterwards (the first run builds the demo, about 2 minutes, and keeps a dump in bench/cache/);
# the app is the crash victim, as above. `bench/crash_bench.py --engine postgresql --kill database` crashes
# PostgreSQL instead (pg_ctl stop -m immediate) and starts it again.
bench-crash-postgres: setup
	$(BIN)/python bench/crash_bench.py --engine postgresql

# Continuous replication (litestream.yml): the app under Litestream, which streams every transaction of the
# database to FIELDAPP_REPLICA (a folder; litestream.yml also documents an S3-compatible store).
FIELDAPP_REPLICA ?= $(CURDIR)/instance/replica

$(VENV)/.replicate-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,replicate]'
	touch $@

replicate-setup: setup $(VENV)/.replicate-installed

replicate: demo replicate-setup
	@echo ""
	@echo "Zero Distance on http://127.0.0.1:$(PORT) under Litestream $$($(BIN)/litestream version)"
	@echo "  database $(abspath $(FIELDAPP_DATABASE)), replica $(abspath $(FIELDAPP_REPLICA))"
	@echo ""
	FIELDAPP_DATABASE=$(abspath $(FIELDAPP_DATABASE)) FIELDAPP_REPLICA=$(abspath $(FIELDAPP_REPLICA)) \
	FIELDAPP_REPLICATED=1 PORT=$(PORT) $(BIN)/litestream replicate -config litestream.yml \
	  -exec "$(BIN)/gunicorn -c gunicorn.conf.py 'fieldapp:create_app()'"

# Restore drill (docs/scaling.md): 20 phones send visits for 30 s to the app under Litestream, the machine is lost
# (SIGKILL, database deleted), the database is restored from the replica; ends with
# acknowledged=N restored=N missing=N duplicated=N sync_interval=1s replica=file
restore-drill: replicate-setup
	$(BIN)/python bench/restore_drill.py

clean:
	rm -rf $(VENV) .pytest_cache

# The leader's dashboard with its charts and the monthly report's PDF on the 100,000-household demo, each next to
# its raw SQL aggregates in the same run (bench/dashboard_bench.py); ENGINE=postgresql for PostgreSQL. Not in `bench`.
bench-dashboard: bench-setup
	$(BIN)/python bench/dashboard_bench.py --engine $(or $(ENGINE),sqlite)
