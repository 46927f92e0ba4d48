"""Schema versions of both engines, applied in order at start and by `fieldapp init-db`. Append only: never edit
one that has shipped; add the next number instead, with its SQLite and its PostgreSQL form.

One ordered list: each version has one name and a body per engine (`db.dialect.name`). SQLite records what is
applied in sqlite-utils' `_sqlite_migrations` table (the one its databases always had), PostgreSQL in
`fieldapp_migrations`; each version runs in one transaction with its record.
"""
from datetime import datetime, timezone

from fieldapp.data.statements import insert_many, write


class Migrations:
    """The ordered schema versions and what each database has applied."""

    set_name = "fieldapp"
    tables = {"sqlite": "_sqlite_migrations", "postgresql": "fieldapp_migrations"}

    def __init__(self):
        self._versions = []

    def __call__(self, *, name):
        """Register the decorated function(db) as the schema version name (it reads db.dialect if it must)."""
        def register(function):
            if any(version.name == name for version in self._versions):
                raise ValueError(f"schema version {name} is registered twice")
            self._versions.append(_Version(name, function))
            return function
        return register

    def sql(self, name, *, sqlite, postgresql):
        """Register a version that is one script per engine."""
        scripts = {"sqlite": sqlite, "postgresql": postgresql}
        self(name=name)(lambda db: db.executescript(scripts[db.dialect.name]) if scripts[db.dialect.name] else None)

    def _table(self, db):
        table = self.tables[db.dialect.name]
        db.execute(f"CREATE TABLE IF NOT EXISTS {table} (migration_set TEXT, name TEXT, applied_at TEXT)")
        return table

    def names(self):
        """The name of every version, in order."""
        return [version.name for version in self._versions]

    def applied(self, db):
        """The versions applied to db, in the order they were applied."""
        table = self.tables[db.dialect.name]
        if table not in db.table_names():
            return []
        return [_Applied(row[0], row[1]) for row in db.execute(
            f"SELECT name, applied_at FROM {table} WHERE migration_set = ? ORDER BY applied_at, name",
            [self.set_name]).fetchall()]

    def pending(self, db):
        """The versions not yet applied to db, in order (reads only)."""
        done = {version.name for version in self.applied(db)}
        return [version for version in self._versions if version.name not in done]

    def apply(self, db, stop_before=None):
        """Apply the pending versions in order, each in its own transaction, up to stop_before (a name)."""
        table = self._table(db)
        for version in self.pending(db):
            if version.name == stop_before:
                return
            with write(db):
                version.function(db)
                db.execute(f"INSERT INTO {table} (migration_set, name, applied_at) VALUES (?, ?, ?)",
                           [self.set_name, version.name, str(datetime.now(timezone.utc))])


class _Version:
    def __init__(self, name, function):
        self.name, self.function = name, function


class _Applied:
    def __init__(self, name, applied_at):
        self.name, self.applied_at = name, applied_at


migrations = Migrations()

migrations.sql(
    "0001_initial_schema",  # every table of the domain: grids to the audit log
    sqlite="""
        CREATE TABLE grids (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL
        );
        CREATE TABLE cells (
            id INTEGER PRIMARY KEY,
            grid_id INTEGER NOT NULL REFERENCES grids(id),
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            geometry TEXT NOT NULL,          -- GeoJSON Polygon/MultiPolygon, WGS-84, lon/lat
            min_lon REAL NOT NULL, min_lat REAL NOT NULL,
            max_lon REAL NOT NULL, max_lat REAL NOT NULL
        );
        CREATE INDEX cells_grid ON cells(grid_id);
        CREATE TABLE buildings (
            id INTEGER PRIMARY KEY,
            external_id TEXT NOT NULL UNIQUE,
            cell_id INTEGER NOT NULL REFERENCES cells(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'apartment' CHECK (kind IN ('apartment', 'house', 'other')),
            lon REAL NOT NULL, lat REAL NOT NULL,
            footprint TEXT                   -- GeoJSON, when the source had one
        );
        CREATE INDEX buildings_cell ON buildings(cell_id);
        CREATE TABLE households (
            id INTEGER PRIMARY KEY,
            external_id TEXT NOT NULL UNIQUE,
            cell_id INTEGER NOT NULL REFERENCES cells(id),
            building_id INTEGER REFERENCES buildings(id),
            unit TEXT, room TEXT,
            address TEXT NOT NULL,
            lon REAL, lat REAL,              -- own point (villages); else the building's
            occupancy TEXT NOT NULL DEFAULT 'occupied'
                CHECK (occupancy IN ('occupied', 'vacant', 'moved_out')),
            -- Kept by record_visit in the visit's transaction: the status of 100,000 households
            -- must not need a scan of a million visits.
            last_visit_at TEXT,
            last_visit_user_id INTEGER REFERENCES users(id),
            created_at TEXT NOT NULL
        );
        CREATE INDEX households_cell ON households(cell_id);
        CREATE INDEX households_building ON households(building_id);
        CREATE TABLE residents (
            id INTEGER PRIMARY KEY,
            household_id INTEGER NOT NULL REFERENCES households(id),
            name TEXT NOT NULL,
            phone TEXT,
            gender TEXT CHECK (gender IN ('f', 'm') OR gender IS NULL),
            birth_year INTEGER,
            moved_out_at TEXT,
            anonymised_at TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX residents_household ON residents(household_id);
        CREATE TABLE tags (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            label TEXT NOT NULL,             -- Chinese label; known codes are translated in code
            cycle_days INTEGER CHECK (cycle_days IS NULL OR cycle_days > 0),
            sensitive INTEGER NOT NULL DEFAULT 0  -- vulnerable group: never in map payloads or URLs
        );
        CREATE TABLE resident_tags (
            resident_id INTEGER NOT NULL REFERENCES residents(id),
            tag_id INTEGER NOT NULL REFERENCES tags(id),
            PRIMARY KEY (resident_id, tag_id)
        ) WITHOUT ROWID;
        CREATE INDEX resident_tags_tag ON resident_tags(tag_id);
        CREATE TABLE household_tags (
            household_id INTEGER NOT NULL REFERENCES households(id),
            tag_id INTEGER NOT NULL REFERENCES tags(id),
            PRIMARY KEY (household_id, tag_id)
        ) WITHOUT ROWID;
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('member', 'leader', 'admin')),
            grid_id INTEGER REFERENCES grids(id),
            active INTEGER NOT NULL DEFAULT 1,
            must_change_password INTEGER NOT NULL DEFAULT 0,
            -- Bumped to end every session of the user (sign-out everywhere, disabling).
            session_epoch INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            last_login_at TEXT
        );
        CREATE TABLE assignments (
            id INTEGER PRIMARY KEY,
            cell_id INTEGER NOT NULL REFERENCES cells(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            valid_from TEXT NOT NULL,        -- UTC timestamps: who was responsible when
            valid_to TEXT,                   -- NULL while the assignment holds
            assigned_by INTEGER REFERENCES users(id),
            CHECK (valid_to IS NULL OR valid_to >= valid_from)
        );
        CREATE INDEX assignments_user ON assignments(user_id, valid_to);
        CREATE INDEX assignments_cell ON assignments(cell_id, valid_to);
        CREATE TABLE visits (
            id INTEGER PRIMARY KEY,
            uuid TEXT NOT NULL UNIQUE,       -- made by the phone: a resend never duplicates a visit
            household_id INTEGER NOT NULL REFERENCES households(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            visited_at TEXT NOT NULL,        -- device time (UTC), checked not to be in the future
            received_at TEXT NOT NULL,       -- server time (UTC)
            lat REAL, lon REAL, accuracy_m REAL,
            distance_m REAL,                 -- from the household's point
            location_flag TEXT NOT NULL
                CHECK (location_flag IN ('ok', 'off_site', 'imprecise', 'no_location')),
            no_location_reason TEXT,
            outcome TEXT NOT NULL
                CHECK (outcome IN ('met', 'nobody_home', 'declined', 'moved_out', 'vacant')),
            residents_met TEXT NOT NULL DEFAULT '[]',  -- JSON list of resident ids
            notes TEXT NOT NULL DEFAULT '',
            payload_sha256 TEXT              -- what the phone sent: a resend must match it
        );
        CREATE INDEX visits_household ON visits(household_id, visited_at);
        CREATE INDEX visits_user ON visits(user_id, visited_at);
        CREATE TABLE visit_amendments (
            id INTEGER PRIMARY KEY,
            visit_id INTEGER NOT NULL REFERENCES visits(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            at TEXT NOT NULL,
            reason TEXT NOT NULL,
            outcome TEXT CHECK (outcome IN ('met', 'nobody_home', 'declined', 'moved_out', 'vacant')),
            notes TEXT
        );
        CREATE INDEX visit_amendments_visit ON visit_amendments(visit_id);
        CREATE TABLE categories (
            code TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            due_days INTEGER NOT NULL CHECK (due_days > 0),
            position INTEGER NOT NULL
        );
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            uuid TEXT NOT NULL UNIQUE,
            household_id INTEGER NOT NULL REFERENCES households(id),
            visit_id INTEGER REFERENCES visits(id),
            category TEXT NOT NULL REFERENCES categories(code),
            description TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
            responsible_user_id INTEGER REFERENCES users(id),
            due_date TEXT NOT NULL,          -- a calendar day in Asia/Shanghai
            referral TEXT,
            resolution TEXT,
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1  -- refuses a transition from a stale page
        );
        CREATE INDEX requests_status_due ON requests(status, due_date);
        CREATE INDEX requests_household ON requests(household_id, status);
        CREATE INDEX requests_responsible ON requests(responsible_user_id, status);
        CREATE TABLE request_events (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES requests(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            from_status TEXT, to_status TEXT,
            note TEXT,
            visit_id INTEGER REFERENCES visits(id),
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX request_events_request ON request_events(request_id, at);
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user_id INTEGER REFERENCES users(id),
            action TEXT NOT NULL,
            target_type TEXT, target_id INTEGER,
            detail TEXT NOT NULL DEFAULT '{}',
            ip TEXT
        );
        CREATE INDEX audit_log_at ON audit_log(at);
        CREATE INDEX audit_log_target ON audit_log(target_type, target_id);

        -- Append-only records: a correction is a new row, never an edit.
        CREATE TRIGGER visits_append_only_update BEFORE UPDATE ON visits
            BEGIN SELECT RAISE(ABORT, 'visits are append-only: record an amendment'); END;
        CREATE TRIGGER visits_append_only_delete BEFORE DELETE ON visits
            BEGIN SELECT RAISE(ABORT, 'visits are append-only'); END;
        CREATE TRIGGER request_events_append_only_update BEFORE UPDATE ON request_events
            BEGIN SELECT RAISE(ABORT, 'request events are append-only'); END;
        CREATE TRIGGER request_events_append_only_delete BEFORE DELETE ON request_events
            BEGIN SELECT RAISE(ABORT, 'request events are append-only'); END;
        CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        """,
    postgresql="""        -- Usernames compare case-insensitively, as SQLite's NOCASE.
        CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

        CREATE TABLE grids (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL
        );
        CREATE TABLE users (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            username TEXT COLLATE nocase NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('member', 'leader', 'admin')),
            grid_id INTEGER REFERENCES grids(id),
            active INTEGER NOT NULL DEFAULT 1,
            must_change_password INTEGER NOT NULL DEFAULT 0,
            -- Bumped to end every session of the user (sign-out everywhere, disabling).
            session_epoch INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            last_login_at TEXT
        );
        CREATE TABLE cells (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            grid_id INTEGER NOT NULL REFERENCES grids(id),
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            geometry TEXT NOT NULL,          -- GeoJSON Polygon/MultiPolygon, WGS-84, lon/lat
            min_lon DOUBLE PRECISION NOT NULL, min_lat DOUBLE PRECISION NOT NULL,
            max_lon DOUBLE PRECISION NOT NULL, max_lat DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX cells_grid ON cells(grid_id);
        CREATE TABLE buildings (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            external_id TEXT NOT NULL UNIQUE,
            cell_id INTEGER NOT NULL REFERENCES cells(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'apartment' CHECK (kind IN ('apartment', 'house', 'other')),
            lon DOUBLE PRECISION NOT NULL, lat DOUBLE PRECISION NOT NULL,
            footprint TEXT                   -- GeoJSON, when the source had one
        );
        CREATE INDEX buildings_cell ON buildings(cell_id);
        CREATE TABLE households (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            external_id TEXT NOT NULL UNIQUE,
            cell_id INTEGER NOT NULL REFERENCES cells(id),
            building_id INTEGER REFERENCES buildings(id),
            unit TEXT, room TEXT,
            address TEXT NOT NULL,
            lon DOUBLE PRECISION, lat DOUBLE PRECISION,              -- own point (villages); else the building's
            occupancy TEXT NOT NULL DEFAULT 'occupied'
                CHECK (occupancy IN ('occupied', 'vacant', 'moved_out')),
            -- Kept by record_visit in the visit's transaction: the status of 100,000 households
            -- must not need a scan of a million visits.
            last_visit_at TEXT,
            last_visit_user_id INTEGER REFERENCES users(id),
            created_at TEXT NOT NULL
        );
        CREATE INDEX households_cell ON households(cell_id);
        CREATE INDEX households_building ON households(building_id);
        CREATE TABLE residents (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            household_id INTEGER NOT NULL REFERENCES households(id),
            name TEXT NOT NULL,
            phone TEXT,
            gender TEXT CHECK (gender IN ('f', 'm') OR gender IS NULL),
            birth_year INTEGER,
            moved_out_at TEXT,
            anonymised_at TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX residents_household ON residents(household_id);
        CREATE TABLE tags (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            label TEXT NOT NULL,             -- Chinese label; known codes are translated in code
            cycle_days INTEGER CHECK (cycle_days IS NULL OR cycle_days > 0),
            sensitive INTEGER NOT NULL DEFAULT 0  -- vulnerable group: never in map payloads or URLs
        );
        CREATE TABLE resident_tags (
            resident_id INTEGER NOT NULL REFERENCES residents(id),
            tag_id INTEGER NOT NULL REFERENCES tags(id),
            PRIMARY KEY (resident_id, tag_id)
        );
        CREATE INDEX resident_tags_tag ON resident_tags(tag_id);
        CREATE TABLE household_tags (
            household_id INTEGER NOT NULL REFERENCES households(id),
            tag_id INTEGER NOT NULL REFERENCES tags(id),
            PRIMARY KEY (household_id, tag_id)
        );
        CREATE TABLE assignments (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            cell_id INTEGER NOT NULL REFERENCES cells(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            valid_from TEXT NOT NULL,        -- UTC timestamps: who was responsible when
            valid_to TEXT,                   -- NULL while the assignment holds
            assigned_by INTEGER REFERENCES users(id),
            CHECK (valid_to IS NULL OR valid_to >= valid_from)
        );
        CREATE INDEX assignments_user ON assignments(user_id, valid_to);
        CREATE INDEX assignments_cell ON assignments(cell_id, valid_to);
        CREATE TABLE visits (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            uuid TEXT NOT NULL UNIQUE,       -- made by the phone: a resend never duplicates a visit
            household_id INTEGER NOT NULL REFERENCES households(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            visited_at TEXT NOT NULL,        -- device time (UTC), checked not to be in the future
            received_at TEXT NOT NULL,       -- server time (UTC)
            lat DOUBLE PRECISION, lon DOUBLE PRECISION, accuracy_m DOUBLE PRECISION,
            distance_m DOUBLE PRECISION,                 -- from the household's point
            location_flag TEXT NOT NULL
                CHECK (location_flag IN ('ok', 'off_site', 'imprecise', 'no_location')),
            no_location_reason TEXT,
            outcome TEXT NOT NULL
                CHECK (outcome IN ('met', 'nobody_home', 'declined', 'moved_out', 'vacant')),
            residents_met TEXT NOT NULL DEFAULT '[]',  -- JSON list of resident ids
            notes TEXT NOT NULL DEFAULT '',
            payload_sha256 TEXT              -- what the phone sent: a resend must match it
        );
        CREATE INDEX visits_household ON visits(household_id, visited_at);
        CREATE INDEX visits_user ON visits(user_id, visited_at);
        CREATE TABLE visit_amendments (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            visit_id INTEGER NOT NULL REFERENCES visits(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            at TEXT NOT NULL,
            reason TEXT NOT NULL,
            outcome TEXT CHECK (outcome IN ('met', 'nobody_home', 'declined', 'moved_out', 'vacant')),
            notes TEXT
        );
        CREATE INDEX visit_amendments_visit ON visit_amendments(visit_id);
        CREATE TABLE categories (
            code TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            due_days INTEGER NOT NULL CHECK (due_days > 0),
            position INTEGER NOT NULL
        );
        CREATE TABLE requests (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            uuid TEXT NOT NULL UNIQUE,
            household_id INTEGER NOT NULL REFERENCES households(id),
            visit_id INTEGER REFERENCES visits(id),
            category TEXT NOT NULL REFERENCES categories(code),
            description TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
            responsible_user_id INTEGER REFERENCES users(id),
            due_date TEXT NOT NULL,          -- a calendar day in Asia/Shanghai
            referral TEXT,
            resolution TEXT,
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1  -- refuses a transition from a stale page
        );
        CREATE INDEX requests_status_due ON requests(status, due_date);
        CREATE INDEX requests_household ON requests(household_id, status);
        CREATE INDEX requests_responsible ON requests(responsible_user_id, status);
        CREATE TABLE request_events (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES requests(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            from_status TEXT, to_status TEXT,
            note TEXT,
            visit_id INTEGER REFERENCES visits(id),
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX request_events_request ON request_events(request_id, at);
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE audit_log (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at TEXT NOT NULL,
            user_id INTEGER REFERENCES users(id),
            action TEXT NOT NULL,
            target_type TEXT, target_id INTEGER,
            detail TEXT NOT NULL DEFAULT '{}',
            ip TEXT
        );
        CREATE INDEX audit_log_at ON audit_log(at);
        CREATE INDEX audit_log_target ON audit_log(target_type, target_id);

        -- Append-only records: a correction is a new row, never an edit.
        CREATE FUNCTION fieldapp_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation'; END $$;
        CREATE TRIGGER visits_append_only_update BEFORE UPDATE ON visits
            FOR EACH ROW EXECUTE FUNCTION fieldapp_append_only('visits are append-only: record an amendment');
        CREATE TRIGGER visits_append_only_delete BEFORE DELETE ON visits
            FOR EACH ROW EXECUTE FUNCTION fieldapp_append_only('visits are append-only');
        CREATE TRIGGER visits_append_only_truncate BEFORE TRUNCATE ON visits
            FOR EACH STATEMENT EXECUTE FUNCTION fieldapp_append_only('visits are append-only');
        CREATE TRIGGER request_events_append_only_update BEFORE UPDATE ON request_events
            FOR EACH ROW EXECUTE FUNCTION fieldapp_append_only('request events are append-only');
        CREATE TRIGGER request_events_append_only_delete BEFORE DELETE ON request_events
            FOR EACH ROW EXECUTE FUNCTION fieldapp_append_only('request events are append-only');
        CREATE TRIGGER request_events_append_only_truncate BEFORE TRUNCATE ON request_events
            FOR EACH STATEMENT EXECUTE FUNCTION fieldapp_append_only('request events are append-only');
        CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION fieldapp_append_only('the audit log is append-only');
        CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION fieldapp_append_only('the audit log is append-only');
        CREATE TRIGGER audit_log_append_only_truncate BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION fieldapp_append_only('the audit log is append-only');
        """,
)


@migrations(name="0002_reference_data")
def m0002_reference_data(db):
    """Seed the request categories with their time limits, the resident tags and the default cycle."""
    insert_many(db, "categories", [
        {"code": code, "label": label, "due_days": days, "position": i}
        for i, (code, label, days) in enumerate([
            ("employment", "就业", 15),
            ("medical", "医疗", 7),
            ("elderly_care", "养老", 7),
            ("housing", "住房", 30),
            ("sanitation", "环境卫生", 7),
            ("public_security", "治安", 3),
            ("dispute", "矛盾纠纷", 7),
            ("policy", "政策咨询", 5),
            ("other", "其他", 15),
        ])
    ])
    insert_many(db, "tags", [
        {"code": "elderly_alone", "label": "独居老人", "cycle_days": 7, "sensitive": 1},
        {"code": "low_income", "label": "低保户", "cycle_days": 14, "sensitive": 1},
        {"code": "disabled", "label": "残疾人", "cycle_days": 14, "sensitive": 1},
        {"code": "veteran", "label": "退役军人", "cycle_days": None, "sensitive": 0},
        {"code": "left_behind_child", "label": "留守儿童", "cycle_days": 14, "sensitive": 1},
        {"code": "party_member", "label": "党员", "cycle_days": None, "sensitive": 0},
    ])
    insert_many(db, "settings", [{"key": "default_cycle_days", "value": "30"}])


migrations.sql(
    "0003_sync_conflicts",  # keep every resend that differs from the stored visit, for a leader to look at
    sqlite="""
        CREATE TABLE IF NOT EXISTS sync_conflicts (  -- IF NOT EXISTS: early databases knew it as 0005
            id INTEGER PRIMARY KEY,
            uuid TEXT NOT NULL,
            visit_id INTEGER NOT NULL REFERENCES visits(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            received_at TEXT NOT NULL,
            body TEXT NOT NULL               -- what the phone sent, as JSON
        );
        CREATE INDEX IF NOT EXISTS sync_conflicts_visit ON sync_conflicts(visit_id);
        """,
    postgresql="""
        CREATE TABLE IF NOT EXISTS sync_conflicts (  -- IF NOT EXISTS: early databases knew it as 0005
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            uuid TEXT NOT NULL,
            visit_id INTEGER NOT NULL REFERENCES visits(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            received_at TEXT NOT NULL,
            body TEXT NOT NULL               -- what the phone sent, as JSON
        );
        CREATE INDEX IF NOT EXISTS sync_conflicts_visit ON sync_conflicts(visit_id);
        """,
)


migrations.sql(
    "0004_import_export",  # keep an uploaded import file between its preview and its commit (not in the session cookie)
    sqlite="""
        CREATE TABLE import_uploads (
            token TEXT PRIMARY KEY,          -- random, in the preview's URL
            user_id INTEGER NOT NULL REFERENCES users(id),
            kind TEXT NOT NULL CHECK (kind IN ('cells', 'buildings', 'households')),
            crs TEXT NOT NULL DEFAULT 'wgs84' CHECK (crs IN ('wgs84', 'gcj02')),
            filename TEXT NOT NULL,
            content BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    postgresql="""
        CREATE TABLE import_uploads (
            token TEXT PRIMARY KEY,          -- random, in the preview's URL
            user_id INTEGER NOT NULL REFERENCES users(id),
            kind TEXT NOT NULL CHECK (kind IN ('cells', 'buildings', 'households')),
            crs TEXT NOT NULL DEFAULT 'wgs84' CHECK (crs IN ('wgs84', 'gcj02')),
            filename TEXT NOT NULL,
            content BYTEA NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
)


migrations.sql(
    "0007_security",  # count sign-in attempts per account and per address (shared by every gunicorn worker); index the audit log
    sqlite="""
        CREATE TABLE login_attempts (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            username TEXT NOT NULL,          -- as typed, lower-cased: unknown names are throttled too
            ip TEXT,
            success INTEGER NOT NULL
        );
        CREATE INDEX login_attempts_username ON login_attempts(username, at);
        CREATE INDEX login_attempts_ip ON login_attempts(ip, at);
        -- The admin's audit search filters by person or action, newest first.
        CREATE INDEX audit_log_user ON audit_log(user_id, id);
        CREATE INDEX audit_log_action ON audit_log(action, id);
        """,
    postgresql="""
        CREATE TABLE login_attempts (
            id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at TEXT NOT NULL,
            username TEXT NOT NULL,          -- as typed, lower-cased: unknown names are throttled too
            ip TEXT,
            success INTEGER NOT NULL
        );
        CREATE INDEX login_attempts_username ON login_attempts(username, at);
        CREATE INDEX login_attempts_ip ON login_attempts(ip, at);
        -- The admin's audit search filters by person or action, newest first.
        CREATE INDEX audit_log_user ON audit_log(user_id, id);
        CREATE INDEX audit_log_action ON audit_log(action, id);
        """,
)


migrations.sql(
    "0008_known_devices",  # remember which devices have signed in to which account, so that failures elsewhere never lock the owner out
    sqlite="""
        ALTER TABLE login_attempts ADD COLUMN device TEXT;  -- sha256 of the device cookie, or NULL
        CREATE TABLE known_devices (
            username TEXT NOT NULL,          -- lower-cased, as login_attempts
            device TEXT NOT NULL,            -- sha256 of the device cookie
            last_success_at TEXT NOT NULL,
            PRIMARY KEY (username, device)
        );
        """,
    postgresql="""
        ALTER TABLE login_attempts ADD COLUMN device TEXT;  -- sha256 of the device cookie, or NULL
        CREATE TABLE known_devices (
            username TEXT NOT NULL,          -- lower-cased, as login_attempts
            device TEXT NOT NULL,            -- sha256 of the device cookie
            last_success_at TEXT NOT NULL,
            PRIMARY KEY (username, device)
        );
        """,
)


migrations.sql(
    "0009_change_counter",  # a counter that every commit changing what a map shows moves, read by every app server
    # SQLite's PRAGMA data_version tells the same of its file without a table (data/mapdata.py).
    sqlite=None,
    postgresql="""
        -- Sixteen slots: concurrent writers lock different rows; the sum moves with each commit, never before it.
        CREATE TABLE data_changes (slot INTEGER PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0);
        INSERT INTO data_changes (slot) SELECT generate_series(0, 15);
        CREATE FUNCTION fieldapp_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE data_changes SET n = n + 1 WHERE slot = txid_current() % 16;
                RETURN NULL;
            END $$;
        DO $$
            DECLARE name TEXT;
            BEGIN
                FOREACH name IN ARRAY ARRAY['grids', 'cells', 'buildings', 'households', 'residents', 'tags',
                        'resident_tags', 'household_tags', 'users', 'assignments', 'visits', 'visit_amendments',
                        'categories', 'requests', 'request_events', 'settings'] LOOP
                    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                                   'FOR EACH STATEMENT EXECUTE FUNCTION fieldapp_data_changed()',
                                   name || '_changed', name);
                END LOOP;
            END $$;
        """,
)


_VISIT_INDEXES = """
    -- A household's timeline reads the requests raised and followed up in each of its visits: without these,
    -- both tables were read whole for every household page (two thirds of its time in the database).
    CREATE INDEX requests_visit ON requests(visit_id);
    CREATE INDEX request_events_visit ON request_events(visit_id);
    """
migrations.sql("0010_visit_indexes", sqlite=_VISIT_INDEXES, postgresql=_VISIT_INDEXES)


# A register kept at the door: who lives where and with which tags, from when to when, every change a record;
# visits that count as contact (and those rejected in review) kept apart from attempts.
_OUTCOMES_BEFORE = "outcome IN ('met', 'nobody_home', 'declined', 'moved_out', 'vacant')"
_OUTCOMES_AFTER = ("outcome IN ('met', 'met_elsewhere', 'phone_call', 'nobody_home', 'declined', 'no_answer', "
                   "'moved_out', 'vacant')")
# The latest of each household's visits that counts as a contact / as met in person / as an attempt.
_LAST_OF = "(SELECT max(v.visited_at) FROM visits v WHERE v.household_id = households.id AND v.outcome IN {})"
_REGISTER_BOTH = f"""
    ALTER TABLE residents ADD COLUMN relation TEXT;          -- to the head of the household: 户主, 配偶, 子女 ...
    ALTER TABLE residents ADD COLUMN left_reason TEXT CHECK (left_reason IN ('moved_out', 'deceased'));
    ALTER TABLE residents ADD COLUMN moved_to TEXT;          -- where a resident who moved out went, if known
    -- moved_out_at (the day a resident left, for either reason) already exists.
    ALTER TABLE households ADD COLUMN retired_at TEXT;       -- demolished, merged: kept, never deleted
    ALTER TABLE households ADD COLUMN retired_reason TEXT;
    -- Kept by the visit's transaction (and worked out again when a visit is amended or rejected in review):
    -- the latest contact, the latest contact in person (met at home or elsewhere), the latest attempt.
    ALTER TABLE households ADD COLUMN last_contact_at TEXT;
    ALTER TABLE households ADD COLUMN last_met_at TEXT;
    ALTER TABLE households ADD COLUMN last_attempt_at TEXT;
    UPDATE households SET last_contact_at = {_LAST_OF.format("('met')")},
                          last_met_at = {_LAST_OF.format("('met')")},
                          last_attempt_at = {_LAST_OF.format("('nobody_home', 'declined')")};

    -- What a later event made of a visit: its outcome after an amendment, rejected in review. Derived from
    -- visit_amendments and review_events (both append-only); a visit without a row stands as recorded.
    CREATE TABLE visit_standing (
        visit_id INTEGER PRIMARY KEY REFERENCES visits(id),
        outcome TEXT NOT NULL,
        rejected INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO visit_standing (visit_id, outcome)
        SELECT a.visit_id, a.outcome FROM visit_amendments a
        WHERE a.outcome IS NOT NULL AND a.id = (SELECT max(b.id) FROM visit_amendments b
                                                WHERE b.visit_id = a.visit_id AND b.outcome IS NOT NULL);
    CREATE INDEX households_retired ON households(retired_at);
    CREATE INDEX visits_received ON visits(received_at);
"""
_REGISTER_TABLES = """
    -- Every change to the register, append-only: who, when, which field, before and after, why, in which visit.
    -- A change whose "before" no longer matched the server's value is kept with state 'conflict' and the
    -- server's value, applied to nothing, until a leader decides in review.
    CREATE TABLE register_changes (
        id {id},
        uuid TEXT NOT NULL UNIQUE,        -- made by the phone: a resend never applies a change twice
        household_id INTEGER NOT NULL REFERENCES households(id),
        resident_id INTEGER REFERENCES residents(id),
        visit_id INTEGER REFERENCES visits(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        made_at TEXT NOT NULL,            -- device time (UTC)
        received_at TEXT NOT NULL,        -- server time (UTC)
        kind TEXT NOT NULL,               -- resident_added, resident_corrected, tag_added, tag_ended, resident_left,
                                          -- household_vacant, household_occupied, household_added, household_retired
        field TEXT,                       -- name, phone, birth_year, relation, tag, status, occupancy ...
        before TEXT,                      -- the value the phone saw (NULL: none)
        after TEXT,                       -- the value it asks for
        server_value TEXT,                -- a conflict: the server's value when the change arrived
        reason TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'applied' CHECK (state IN ('applied', 'conflict')),
        resolves_id INTEGER REFERENCES register_changes(id),  -- a conflict a leader applied in review
        payload_sha256 TEXT
    );
    CREATE INDEX register_changes_household ON register_changes(household_id, id);
    CREATE INDEX register_changes_resident ON register_changes(resident_id);
    CREATE INDEX register_changes_state ON register_changes(state, id);
    CREATE INDEX register_changes_visit ON register_changes(visit_id);

    -- The leader's review of doubtful visits and register changes, append-only: accept, ask (a question to the
    -- member), answer (the member's), reject (a visit stops counting), apply / keep (a conflicting change).
    CREATE TABLE review_events (
        id {id},
        subject TEXT NOT NULL CHECK (subject IN ('visit', 'change')),
        subject_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id),
        at TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('accept', 'ask', 'answer', 'reject', 'apply', 'keep')),
        note TEXT
    );
    CREATE INDEX review_events_subject ON review_events(subject, subject_id, id);
    CREATE INDEX review_events_at ON review_events(at);
"""
migrations.sql(
    "0011_register",
    sqlite=_REGISTER_BOTH + _REGISTER_TABLES.format(id="INTEGER PRIMARY KEY") + f"""
    -- Tags with their days: started_on (NULL: since before records began) and ended_on (NULL: still holds; else
    -- the first day it no longer counts), local calendar days. SQLite cannot change a primary key in place.
    CREATE TABLE resident_tag_periods (
        id INTEGER PRIMARY KEY,
        resident_id INTEGER NOT NULL REFERENCES residents(id),
        tag_id INTEGER NOT NULL REFERENCES tags(id),
        started_on TEXT,
        ended_on TEXT,
        CHECK (ended_on IS NULL OR started_on IS NULL OR ended_on >= started_on)
    );
    INSERT INTO resident_tag_periods (resident_id, tag_id, ended_on)
        SELECT rt.resident_id, rt.tag_id, substr(r.moved_out_at, 1, 10) FROM resident_tags rt
        JOIN residents r ON r.id = rt.resident_id ORDER BY rt.resident_id, rt.tag_id;
    DROP TABLE resident_tags;
    ALTER TABLE resident_tag_periods RENAME TO resident_tags;
    CREATE UNIQUE INDEX resident_tags_current ON resident_tags(resident_id, tag_id) WHERE ended_on IS NULL;
    CREATE INDEX resident_tags_resident ON resident_tags(resident_id, ended_on, tag_id);
    CREATE INDEX resident_tags_tag ON resident_tags(tag_id);

    CREATE TRIGGER register_changes_append_only_update BEFORE UPDATE ON register_changes
        BEGIN SELECT RAISE(ABORT, 'register changes are append-only'); END;
    CREATE TRIGGER register_changes_append_only_delete BEFORE DELETE ON register_changes
        BEGIN SELECT RAISE(ABORT, 'register changes are append-only'); END;
    CREATE TRIGGER review_events_append_only_update BEFORE UPDATE ON review_events
        BEGIN SELECT RAISE(ABORT, 'review events are append-only'); END;
    CREATE TRIGGER review_events_append_only_delete BEFORE DELETE ON review_events
        BEGIN SELECT RAISE(ABORT, 'review events are append-only'); END;
    """,
    postgresql=_REGISTER_BOTH + _REGISTER_TABLES.format(id="INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY") + f"""
    ALTER TABLE visits DROP CONSTRAINT visits_outcome_check;
    ALTER TABLE visits ADD CONSTRAINT visits_outcome_check CHECK ({_OUTCOMES_AFTER});
    ALTER TABLE visit_amendments DROP CONSTRAINT visit_amendments_outcome_check;
    ALTER TABLE visit_amendments ADD CONSTRAINT visit_amendments_outcome_check CHECK ({_OUTCOMES_AFTER});
    -- Tags with their days: started_on (NULL: since before records began) and ended_on (NULL: still holds; else
    -- the first day it no longer counts), local calendar days.
    ALTER TABLE resident_tags DROP CONSTRAINT resident_tags_pkey;
    ALTER TABLE resident_tags ADD COLUMN id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY;
    ALTER TABLE resident_tags ADD COLUMN started_on TEXT;
    ALTER TABLE resident_tags ADD COLUMN ended_on TEXT;
    ALTER TABLE resident_tags ADD CHECK (ended_on IS NULL OR started_on IS NULL OR ended_on >= started_on);
    UPDATE resident_tags SET ended_on = substr(r.moved_out_at, 1, 10) FROM residents r
        WHERE r.id = resident_tags.resident_id AND r.moved_out_at IS NOT NULL;
    CREATE UNIQUE INDEX resident_tags_current ON resident_tags(resident_id, tag_id) WHERE ended_on IS NULL;
    CREATE INDEX resident_tags_resident ON resident_tags(resident_id, ended_on, tag_id);

    CREATE TRIGGER register_changes_append_only_update BEFORE UPDATE ON register_changes
        FOR EACH ROW EXECUTE FUNCTION fieldapp_append_only('register changes are append-only');
    CREATE TRIGGER register_changes_append_only_delete BEFORE DELETE ON register_changes
        FOR EACH ROW EXECUTE FUNCTION fieldapp_append_only('register changes are append-only');
    CREATE TRIGGER register_changes_append_only_truncate BEFORE TRUNCATE ON register_changes
        FOR EACH STATEMENT EXECUTE FUNCTION fieldapp_append_only('register changes are append-only');
    CREATE TRIGGER review_events_append_only_update BEFORE UPDATE ON review_events
        FOR EACH ROW EXECUTE FUNCTION fieldapp_append_only('review events are append-only');
    CREATE TRIGGER review_events_append_only_delete BEFORE DELETE ON review_events
        FOR EACH ROW EXECUTE FUNCTION fieldapp_append_only('review events are append-only');
    CREATE TRIGGER review_events_append_only_truncate BEFORE TRUNCATE ON review_events
        FOR EACH STATEMENT EXECUTE FUNCTION fieldapp_append_only('review events are append-only');
    CREATE TRIGGER visit_standing_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON visit_standing
        FOR EACH STATEMENT EXECUTE FUNCTION fieldapp_data_changed();
    CREATE TRIGGER register_changes_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON register_changes
        FOR EACH STATEMENT EXECUTE FUNCTION fieldapp_data_changed();
    """,
)


def _loosen_in_place(db, changes):
    """Loosen constraints of SQLite tables in their schema text: each (table, before, after) replaces the one
    occurrence of before in the table's CREATE statement. This is the procedure SQLite documents for a change that
    every stored row already meets (a wider CHECK, a dropped NOT NULL), without rebuilding the table; the schema
    version moves so that every connection reads the new text."""
    version = db.execute("PRAGMA schema_version").fetchone()[0]
    db.execute("PRAGMA writable_schema = ON")
    try:
        for table, before, after in changes:
            sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
            if sql.count(before) != 1:
                raise RuntimeError(f"{table}: the schema is not the one this version loosens ({before})")
            db.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                       [sql.replace(before, after), table])
        db.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        db.execute("PRAGMA writable_schema = OFF")


@migrations(name="0012_visit_outcomes")
def m0012_visit_outcomes(db):
    """Let visits and amendments take the new outcomes (met elsewhere, phone call, no answer).

    PostgreSQL changed its constraints in 0011. SQLite cannot alter a CHECK constraint, and rebuilding visits
    (append-only, referenced by four tables) would copy every visit: its schema text is widened in place, the
    procedure SQLite documents for loosening a constraint (every stored row meets the looser one)."""
    if db.dialect.name != "sqlite":
        return
    _loosen_in_place(db, [(table, _OUTCOMES_BEFORE, _OUTCOMES_AFTER) for table in ("visits", "visit_amendments")])


# Coverage of a past period counts each household's contacts and attempts in it by outcome (and the unreachable
# list this cycle's attempts): with the outcome in the household's index of visits the count reads the index
# alone, not a table row per visit (a month of a district's visits: four times faster).
_VISIT_OUTCOME_INDEX = """
    DROP INDEX visits_household;
    CREATE INDEX visits_household ON visits(household_id, visited_at, outcome);
    """
migrations.sql("0013_visit_outcome_index", sqlite=_VISIT_OUTCOME_INDEX, postgresql=_VISIT_OUTCOME_INDEX)


_REVIEW_INDEX = """
    -- The leader's review reads a grid's visits of the last weeks (by received_at) with the member, the device
    -- time and the location flag: from the grid's households straight into this index, no visit row read.
    CREATE INDEX visits_household_received ON visits(household_id, received_at, user_id, visited_at, location_flag);
    -- A member's list shows the questions asked of them lately: the asks alone, not every decision of the weeks.
    CREATE INDEX review_events_action ON review_events(action, at);
    """
migrations.sql("0014_review_index", sqlite=_REVIEW_INDEX, postgresql=_REVIEW_INDEX)


_REVIEW_WINDOW = """
    -- The leader's review reads a month of register changes by their arrival, not the whole register.
    CREATE INDEX register_changes_received ON register_changes(received_at);
    """
migrations.sql("0015_review_window", sqlite=_REVIEW_WINDOW, postgresql=_REVIEW_WINDOW)


# Where each request came in: at a visit, entered by staff (a call, a walk-in, other), a resident's own report,
# a hotline work order. The ledger's figures count requests by it; existing requests take it from their
# first event.
_CHANNELS = "'visit', 'phone', 'walk_in', 'other', 'resident', 'hotline'"
migrations.sql(
    "0016_request_channel",
    sqlite=f"""
        ALTER TABLE requests ADD COLUMN channel TEXT NOT NULL DEFAULT 'other' CHECK (channel IN ({_CHANNELS}));
        UPDATE requests SET channel = CASE
            WHEN visit_id IS NOT NULL THEN 'visit'
            ELSE coalesce((SELECT json_extract(e.data, '$.channel') FROM request_events e
                           WHERE e.request_id = requests.id AND e.kind = 'created'
                             AND json_extract(e.data, '$.channel') IN ('phone', 'walk_in', 'other')), 'other') END;
        CREATE INDEX requests_channel ON requests(channel, created_at);
        """,
    postgresql=f"""
        ALTER TABLE requests ADD COLUMN channel TEXT NOT NULL DEFAULT 'other' CHECK (channel IN ({_CHANNELS}));
        UPDATE requests SET channel = CASE
            WHEN visit_id IS NOT NULL THEN 'visit'
            ELSE coalesce((SELECT e.data::json ->> 'channel' FROM request_events e
                           WHERE e.request_id = requests.id AND e.kind = 'created'
                             AND e.data::json ->> 'channel' IN ('phone', 'walk_in', 'other') LIMIT 1), 'other') END;
        CREATE INDEX requests_channel ON requests(channel, created_at);
        """,
)


_REQUEST_HOUSEHOLD_BEFORE = "household_id INTEGER NOT NULL REFERENCES households(id),\n            visit_id"
_REQUEST_HOUSEHOLD_AFTER = "household_id INTEGER REFERENCES households(id),\n            visit_id"


@migrations(name="0017_request_place")
def m0017_request_place(db):
    """A request belongs to a household, or to a building (a broken stair light), or to a cell (a village lane):
    household_id becomes optional and building_id, cell_id name the other places (exactly one is set).

    SQLite cannot drop a NOT NULL constraint, and requests is referenced by its events: its schema text is loosened
    in place, as 0012 did for the outcomes (every stored row meets the looser schema)."""
    db.execute("ALTER TABLE requests ADD COLUMN building_id INTEGER REFERENCES buildings(id)")
    db.execute("ALTER TABLE requests ADD COLUMN cell_id INTEGER REFERENCES cells(id)")
    db.execute("CREATE INDEX requests_building ON requests(building_id, status)")
    db.execute("CREATE INDEX requests_cell ON requests(cell_id, status)")
    if db.dialect.name != "sqlite":
        db.execute("ALTER TABLE requests ALTER COLUMN household_id DROP NOT NULL")
        return
    _loosen_in_place(db, [("requests", _REQUEST_HOUSEHOLD_BEFORE, _REQUEST_HOUSEHOLD_AFTER)])


# Photo evidence: one row per photo a phone (or a form) sent for a visit, a resolution or a resident's report. The
# bytes live in the photo store (fieldapp/photostore.py), addressed by the sha256 of the re-encoded JPEG; a photo
# waits as 'pending' (never shown) until the record it was sent for arrives. A resolution step gets the client id
# its form carries, so that a resent form adds nothing and the photos sent for it find it.
def _photos(identity):
    return f"""
        CREATE TABLE photos (
            id {identity},
            record_uuid TEXT NOT NULL,        -- the visit's uuid, the resolution step's client id, the report's
            client_sha256 TEXT NOT NULL,      -- of the bytes as the phone sent them: a resend is recognised by it
            sha256 TEXT NOT NULL,             -- the stored JPEG's content address
            bytes INTEGER NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            thumb_sha256 TEXT NOT NULL,
            caption TEXT,
            kind TEXT NOT NULL CHECK (kind IN ('visit', 'resolution', 'report')),
            state TEXT NOT NULL CHECK (state IN ('pending', 'attached')),
            user_id INTEGER REFERENCES users(id),   -- none for a resident's report
            uploaded_at TEXT NOT NULL,
            taken_at TEXT,
            visit_id INTEGER REFERENCES visits(id),
            request_id INTEGER REFERENCES requests(id),
            request_event_id INTEGER REFERENCES request_events(id),
            UNIQUE (record_uuid, client_sha256)
        );
        CREATE INDEX photos_visit ON photos(visit_id) WHERE visit_id IS NOT NULL;
        CREATE INDEX photos_request ON photos(request_id, request_event_id) WHERE request_id IS NOT NULL;
        CREATE INDEX photos_pending ON photos(uploaded_at) WHERE state = 'pending';
        CREATE INDEX photos_sha256 ON photos(sha256);
        CREATE INDEX photos_thumb ON photos(thumb_sha256);
        ALTER TABLE request_events ADD COLUMN uuid TEXT;
        CREATE UNIQUE INDEX request_events_uuid ON request_events(uuid) WHERE uuid IS NOT NULL;
        """


# A household's photos are found through its visits (visits_household) and its requests (requests.household_id).
migrations.sql("0018_photos", sqlite=_photos("INTEGER PRIMARY KEY"),
               postgresql=_photos("INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"))


_RESIDENT_REPORTS = """
    -- The token behind a building's (or a village cell's) QR poster: unguessable, revocable; replacing one revokes
    -- it and makes the next, so at most one token of a place is live.
    CREATE TABLE report_tokens (
        id {id},
        token TEXT NOT NULL UNIQUE,
        building_id INTEGER REFERENCES buildings(id),
        cell_id INTEGER REFERENCES cells(id),
        created_by INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        revoked_by INTEGER REFERENCES users(id),
        CHECK ((building_id IS NULL) <> (cell_id IS NULL))
    );
    CREATE UNIQUE INDEX report_tokens_live_building ON report_tokens(building_id)
        WHERE revoked_at IS NULL AND building_id IS NOT NULL;
    CREATE UNIQUE INDEX report_tokens_live_cell ON report_tokens(cell_id) WHERE revoked_at IS NULL AND cell_id IS NOT NULL;
    -- A resident's own report: the request it made, the poster it came through, the tracking code that follows it,
    -- a name and phone for a call back only with the consent's time, and how it was triaged.
    CREATE TABLE resident_reports (
        request_id INTEGER PRIMARY KEY REFERENCES requests(id),
        tracking_code TEXT NOT NULL UNIQUE,
        token_id INTEGER NOT NULL REFERENCES report_tokens(id),
        name TEXT,
        phone TEXT,
        consent_at TEXT,
        received_at TEXT NOT NULL,
        triaged_at TEXT,
        triaged_by INTEGER REFERENCES users(id),
        outcome TEXT CHECK (outcome IN ('accepted', 'duplicate', 'not_ours')),
        duplicate_of INTEGER REFERENCES requests(id),
        CHECK (consent_at IS NOT NULL OR (name IS NULL AND phone IS NULL))
    );
    CREATE INDEX resident_reports_waiting ON resident_reports(triaged_at, received_at);
    -- The resident's rating of a resolution: one per resolution (its "resolved" event).
    CREATE TABLE report_ratings (
        id {id},
        request_id INTEGER NOT NULL REFERENCES requests(id),
        resolved_event_id INTEGER NOT NULL UNIQUE REFERENCES request_events(id),
        satisfied INTEGER NOT NULL CHECK (satisfied IN (0, 1)),
        comment TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX report_ratings_request ON report_ratings(request_id);
    -- Reports sent per address (a keyed hash, never the address) and per place, for the throttle; kept a day.
    CREATE TABLE report_throttle (
        id {id},
        at TEXT NOT NULL,
        address_hash TEXT NOT NULL,
        place TEXT NOT NULL
    );
    CREATE INDEX report_throttle_address ON report_throttle(address_hash, at);
    CREATE INDEX report_throttle_place ON report_throttle(place, at);
    CREATE INDEX report_throttle_at ON report_throttle(at);
    """
# A resident's report has no account behind it: its request has no author and its events by the resident no user.
_NO_ACCOUNT = {"requests": ("created_by INTEGER NOT NULL REFERENCES users(id)", "created_by INTEGER REFERENCES users(id)"),
               "request_events": ("user_id INTEGER NOT NULL REFERENCES users(id)", "user_id INTEGER REFERENCES users(id)")}


@migrations(name="0019_resident_reports")
def m0019_resident_reports(db):
    """Residents report by a building's QR code: poster tokens, the reports with their tracking codes and optional
    call-back contact, ratings, the throttle; requests.created_by and request_events.user_id become optional.

    SQLite cannot drop a NOT NULL constraint: the schema text is loosened in place, as 0017 did."""
    identity = "INTEGER PRIMARY KEY" if db.dialect.name == "sqlite" else "INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    db.executescript(_RESIDENT_REPORTS.format(id=identity))
    if db.dialect.name != "sqlite":
        db.execute("ALTER TABLE requests ALTER COLUMN created_by DROP NOT NULL")
        db.execute("ALTER TABLE request_events ALTER COLUMN user_id DROP NOT NULL")
        return
    _loosen_in_place(db, [(table, before, after) for table, (before, after) in _NO_ACCOUNT.items()])


# Service platforms and mass organisations as partners with accounts of their own, the referrals they answer,
# and 12345 hotline work orders taken over into the ledger (their number and their own deadline).
_PARTNERS = (("affairs_center", "社区事务受理中心", "service_centre"), ("culture_center", "社区文化活动中心", "service_centre"),
             ("party_center", "党员服务中心", "service_centre"), ("health_center", "社区卫生服务中心", "service_centre"),
             ("trade_union", "工会", "mass_organisation"), ("youth_league", "共青团", "mass_organisation"),
             ("womens_federation", "妇联", "mass_organisation"))
_ROLES_BEFORE = "role TEXT NOT NULL CHECK (role IN ('member', 'leader', 'admin'))"
_ROLES_AFTER = "role TEXT NOT NULL CHECK (role IN ('member', 'leader', 'admin', 'partner'))"
_UPLOAD_KINDS_BEFORE = "kind TEXT NOT NULL CHECK (kind IN ('cells', 'buildings', 'households'))"
_UPLOAD_KINDS_AFTER = "kind TEXT NOT NULL CHECK (kind IN ('cells', 'buildings', 'households', 'hotline'))"
_REFERRAL_STATES = "'referred', 'accepted', 'info_requested', 'handed_back', 'done', 'withdrawn'"


def _partner_tables(key):
    """The new tables; key is the engine's primary key clause."""
    return f"""
        CREATE TABLE partners (
            id {key},
            code TEXT NOT NULL UNIQUE,       -- the ledger's referral code (requests.referral)
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('service_centre', 'mass_organisation')),
            position INTEGER NOT NULL
        );
        CREATE TABLE referrals (
            id {key},
            request_id INTEGER NOT NULL REFERENCES requests(id),
            partner_id INTEGER NOT NULL REFERENCES partners(id),
            referred_by INTEGER NOT NULL REFERENCES users(id),
            referred_at TEXT NOT NULL,
            accept_by TEXT NOT NULL,         -- calendar days in Asia/Shanghai
            answer_by TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'referred' CHECK (state IN ({_REFERRAL_STATES})),
            accepted_at TEXT,
            answered_at TEXT,                -- the first reply (or done)
            ended_at TEXT,                   -- handed back, done or withdrawn
            reason TEXT                      -- why it was handed back
        );
        CREATE INDEX referrals_request ON referrals(request_id, state);
        CREATE INDEX referrals_partner ON referrals(partner_id, state);
        CREATE TABLE hotline_orders (
            id {key},
            request_id INTEGER NOT NULL UNIQUE REFERENCES requests(id),
            order_no TEXT NOT NULL UNIQUE,
            received_at TEXT NOT NULL,
            deadline TEXT NOT NULL,          -- UTC timestamp: the request's due date is its local day
            source TEXT NOT NULL,
            original_category TEXT,
            reply_exported_at TEXT,
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL
        );
        """


@migrations(name="0020_partners_hotline")
def m0020_partners_hotline(db):
    """Partners (seeded with the ledger's referral platforms), partner accounts, referrals, hotline orders.

    users.role and import_uploads.kind take one more value: PostgreSQL swaps the constraints; SQLite's schema text
    is widened in place, as 0012 did (every stored row meets the looser constraint)."""
    sqlite = db.dialect.name == "sqlite"
    db.executescript(_partner_tables("INTEGER PRIMARY KEY" if sqlite else
                                     "INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"))
    insert_many(db, "partners", [{"code": code, "name": name, "kind": kind, "position": i}
                                 for i, (code, name, kind) in enumerate(_PARTNERS)])
    db.execute("ALTER TABLE users ADD COLUMN partner_id INTEGER REFERENCES partners(id)")
    if not sqlite:
        db.execute("ALTER TABLE users DROP CONSTRAINT users_role_check")
        db.execute(f"ALTER TABLE users ADD CONSTRAINT users_role_check CHECK "
                   f"({_ROLES_AFTER.split('CHECK (', 1)[1]}")
        db.execute("ALTER TABLE import_uploads DROP CONSTRAINT import_uploads_kind_check")
        db.execute(f"ALTER TABLE import_uploads ADD CONSTRAINT import_uploads_kind_check CHECK "
                   f"({_UPLOAD_KINDS_AFTER.split('CHECK (', 1)[1]}")
        return
    _loosen_in_place(db, [("users", _ROLES_BEFORE, _ROLES_AFTER),
                          ("import_uploads", _UPLOAD_KINDS_BEFORE, _UPLOAD_KINDS_AFTER)])


# Reminders to the grids' work groups: each grid's group robot (WeCom, DingTalk, Feishu) with the hour of its
# daily digest, and one row per message sent or tried (a digest or an overdue alert once per grid and day).
_REMINDERS = """
    CREATE TABLE reminder_robots (
        grid_id INTEGER PRIMARY KEY REFERENCES grids(id),
        kind TEXT NOT NULL CHECK (kind IN ('wecom', 'dingtalk', 'feishu')),
        target TEXT NOT NULL,             -- the webhook URL or key: a secret, never shown back whole, never logged
        digest_hour INTEGER NOT NULL DEFAULT 8 CHECK (digest_hour BETWEEN 0 AND 23),
        enabled INTEGER NOT NULL DEFAULT 1,
        updated_at TEXT NOT NULL,
        updated_by INTEGER REFERENCES users(id)
    );
    CREATE TABLE reminder_log (
        id {id},
        at TEXT NOT NULL,                 -- the last attempt (UTC)
        grid_id INTEGER NOT NULL REFERENCES grids(id),
        message TEXT NOT NULL CHECK (message IN ('digest', 'overdue', 'test')),
        day TEXT NOT NULL,                -- the local day it is for
        status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT                        -- what went wrong, the webhook's secret left out
    );
    -- One digest and one alert per grid and day: the row is claimed before sending (a test message is not).
    CREATE UNIQUE INDEX reminder_log_once ON reminder_log(grid_id, message, day) WHERE message <> 'test';
    CREATE INDEX reminder_log_grid ON reminder_log(grid_id, id);
    """
migrations.sql("0021_reminders", sqlite=_REMINDERS.format(id="INTEGER PRIMARY KEY"),
               postgresql=_REMINDERS.format(id="INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"))
