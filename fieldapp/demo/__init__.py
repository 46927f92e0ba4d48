"""The demo community: a made-up sub-district of Hangzhou's Xihu district (翠苑 and villages to its west),
its residents, accounts, and 90 days of records: visits (contacts and attempts, households nobody reached,
doubtful visits), requests, the register's changes (deaths, moves, residents added at the door, tags started and
ended, corrections, conflicts waiting for review) and the leader's review. Same seed and same day, same community.

Built along its pipeline: places (grids, cells, buildings, homes), people (residents with their life events,
accounts), history (visits), ledger (requests), register (its changes, learnt at visits), review (the leader's
events, visit standing), then writing (one bulk load, the GeoJSON files); words holds what they draw from.
"""
import random
from operator import itemgetter

from argon2 import PasswordHasher

from fieldapp import rules
from fieldapp.data import bulk, settings
from fieldapp.data.db import rows
from fieldapp.demo import history, ledger, people, places, register, review, writing
from fieldapp.demo.writing import GEODATA_DIR, write_geojson  # noqa: F401  (re-exported)

PASSWORD = "demo1234"


def build(db, *, households=2000, seed=20261128, geodata_dir=None, today=None):
    """Fill db with the demo community, write its GeoJSON to geodata_dir if given, and return the counts."""
    rng = random.Random(seed)
    today = today or rules.today()
    password_hash = PasswordHasher().hash(PASSWORD)  # once for every account: hashing is slow on purpose
    ids = bulk.next_ids(db, ("grids", "cells", "buildings", "households", "residents", "users", "visits",
                             "requests", "register_changes"))
    # The places come first from the generator: the GeoJSON depends on the seed and size, never on today.
    grids, cells, buildings, homes = places.draw(rng, households, ids)
    current = settings.current(db)
    tags = {row["code"]: row for row in current["tags"]}
    residents, resident_tags = people.residents(rng, homes, tags, current["default_cycle_days"], today,
                                                ids["residents"])
    users, assignments = people.accounts(rng, grids, cells, password_hash, today, ids["users"])
    history.bursts(rng, homes)
    visits, raised, found = history.visits(rng, homes, today, ids["visits"], current["default_cycle_days"])
    categories = {row["code"]: row["due_days"] for row in current["categories"]}
    requests, events = ledger.requests(rng, raised, categories, today, ids["requests"])
    sensitive = {row["code"] for row in rows(db, "SELECT code FROM tags WHERE sensitive = 1")}
    changes, decided = register.changes(rng, found["learnt"], residents, sensitive, today, ids["register_changes"])
    reviews, standing = review.visit_events(rng, found["reviews"], found["amendments"], today)
    reviews = sorted(reviews + review.change_events(rng, decided), key=itemgetter(3))  # ids follow time
    writing.insert(db, {
        "grids": grids, "cells": [writing.cell_row(cell) for cell in cells], "buildings": buildings,
        "users": users, "households": [writing.household_row(home) for home in homes], "residents": residents,
        "resident_tags": resident_tags, "assignments": assignments, "visits": visits, "requests": requests,
        "request_events": events, "visit_amendments": found["amendments"], "visit_standing": standing,
        "register_changes": changes, "review_events": reviews})
    if geodata_dir is not None:
        write_geojson(db, geodata_dir)
    return {"grids": len(grids), "cells": len(cells), "buildings": len(buildings), "households": len(homes),
            "residents": len(residents), "users": len(users), "visits": len(visits), "requests": len(requests),
            "register_changes": len(changes), "review_events": len(reviews)}
