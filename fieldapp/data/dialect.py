"""The SQL that differs between SQLite and PostgreSQL, one method per construct; everything else is shared.

A query reaches its engine's words through its connection (`db.dialect`). Timestamps are ISO-8601 UTC text and
calendar days ISO text on both engines (their order is their text's order), flags are integers, so that the rest
of the SQL — comparisons, CASE, FILTER, window functions, upserts, RETURNING — reads the same on both.
"""


class SQLite:
    """SQLite 3.53's words."""

    name = "sqlite"

    def local_day(self, stamp, offset, plus_days=None):
        """The calendar day (ISO text) of the UTC text stamp at the UTC offset (`+480 minutes`), plus_days later."""
        if plus_days is None:
            return f"date({stamp}, {offset})"
        return f"date({stamp}, {offset}, '+' || ({plus_days}) || ' days')"

    def days_between(self, later, earlier):
        """Whole days from the ISO day earlier to the ISO day later."""
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def joined(self, expr, *, distinct=False, order=None):
        """The group's values of expr as text, comma-separated (each once if distinct; in order if given)."""
        if distinct:  # SQLite's DISTINCT takes no separator and no order: ',' is its default
            return f"group_concat(DISTINCT {expr})"
        return f"group_concat({expr}, ','{f' ORDER BY {order}' if order else ''})"

    def contains(self, text, part):
        """Whether the text part occurs in text (no wildcards to escape in a name's two characters)."""
        return f"instr({text}, {part}) > 0"

    def json_values(self, array, cast="TEXT"):
        """A subquery of the elements of the JSON array text array (each cast to cast), for `x IN (...)`."""
        return f"(SELECT CAST(value AS {cast}) FROM json_each({array}))"

    def json_has(self, document, key, value):
        """Whether the JSON array at key of the JSON object text document holds the integer value."""
        return f"EXISTS (SELECT 1 FROM json_each({document}, '$.{key}') WHERE json_each.value = {value})"

    def json_int(self, document, key):
        """The integer at key of the JSON object text document (NULL if none)."""
        return f"json_extract({document}, '$.{key}')"

    def greatest(self, *values):
        """The largest of the SQL values (not an aggregate)."""
        return f"max({', '.join(values)})"

    # A join that keeps SQLite's planner walking from the left table into the right one's index.
    ordered_join = "CROSS JOIN"

    # Under BEGIN IMMEDIATE a writer holds the whole database: a row read to be changed needs no lock of its own.
    for_update = ""


class Postgres:
    """PostgreSQL 15's words."""

    name = "postgresql"

    def local_day(self, stamp, offset, plus_days=None):
        later = "" if plus_days is None else f" + ({plus_days}) * INTERVAL '1 day'"
        return f"to_char(CAST({stamp} AS timestamp) + CAST({offset} AS interval){later}, 'YYYY-MM-DD')"

    def days_between(self, later, earlier):
        return f"(CAST({later} AS date) - CAST({earlier} AS date))"

    def joined(self, expr, *, distinct=False, order=None):
        value = f"CAST({expr} AS text)"
        if distinct:
            return f"string_agg(DISTINCT {value}, ',')"
        return f"string_agg({value}, ','{f' ORDER BY {order}' if order else ''})"

    def contains(self, text, part):
        return f"strpos({text}, {part}) > 0"

    def json_values(self, array, cast="TEXT"):
        return f"(SELECT CAST(value AS {cast}) FROM jsonb_array_elements_text(CAST({array} AS jsonb)) AS value)"

    def json_has(self, document, key, value):
        return (f"EXISTS (SELECT 1 FROM jsonb_array_elements_text(CAST({document} AS jsonb) -> '{key}') AS item "
                f"WHERE item = CAST({value} AS text))")

    def json_int(self, document, key):
        return f"CAST(CAST({document} AS jsonb) ->> '{key}' AS integer)"

    def greatest(self, *values):
        return f"greatest({', '.join(values)})"

    ordered_join = "JOIN"

    # Read committed: a row read to be changed (a request's version, a visit's uuid) is locked until the commit.
    for_update = " FOR UPDATE"


SQLITE = SQLite()
POSTGRES = Postgres()
