"""A small load-and-crash run (bench/crash_bench.py): gunicorn is SIGKILLed and restarted while phones send
visits; every acknowledged visit is stored exactly once and every conflicting resend is kept. And the resend
of one visit on two connections at the same moment, stored once."""
import os
import threading
import time

import pytest

from bench import crash_bench
from fieldapp import rules
from fieldapp.data import db as database
from fieldapp.data import visits
from tests import factories


@pytest.fixture
def community(engine, migrated_template):
    """A database of its own with three members, each holding a cell of five households."""
    target = engine.fresh(migrated_template)
    db = database.connect(target)
    grid = factories.make_grid(db)
    for n in range(3):
        cell = factories.make_cell(db, grid, lon=120.10 + n * 0.01)
        factories.assign(db, cell, factories.make_user(db, "member", f"phone{n}"))
        for _ in range(5):
            factories.make_household(db, cell)
    db.close()
    yield target
    engine.drop(target)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
def test_nothing_acknowledged_is_lost_or_doubled_when_the_server_is_killed(community, tmp_path):
    figures = crash_bench.run(community, clients=4, duration=4, kill_at=2, workers=1, threads=4,
                              password=factories.PASSWORD, usernames=["phone0", "phone1", "phone2"],
                              log_path=str(tmp_path / "gunicorn.log"))
    assert not [name for name in figures if name.startswith("client_error")], figures
    assert figures["restart_s"] is not None and figures["acknowledged"] > 20, figures
    assert figures["lost"] == 0 and figures["duplicated"] == 0 and figures["integrity"] == "ok", figures
    assert figures["stored"] >= figures["acknowledged"]
    # One conflicting resend per phone, each refused and kept (a resend through the crash may be kept twice).
    assert figures.get("conflicts_answered") == 4 and figures["conflicts"] >= 4, figures
    assert "resend_not_existing" not in figures and "conflict_not_refused" not in figures, figures
    assert crash_bench.summary_line(figures).startswith(f"sent={figures['sent']} ")


@pytest.fixture
def two_connections(community):
    """Two connections of their own to the community's database, and a visit of phone0's to send on both."""
    first, second = database.connect(community), database.connect(community)
    user_id = database.scalar(first, "SELECT id FROM users WHERE username = 'phone0'")
    household_id = database.scalar(first, "SELECT min(id) FROM households")
    yield first, second, user_id, household_id
    first.close()
    second.close()


def _visit(user_id, household_id, n):
    at = rules.iso(rules.utcnow())
    return {"uuid": f"resent-{n}", "household_id": household_id, "user_id": user_id, "visited_at": at,
            "received_at": at, "location_flag": "no_location", "outcome": "met", "notes": f"resent {n}",
            "payload_sha256": f"sha-{n}"}


def _send(db, visit):
    """What visits.record answers, or the database error it raised."""
    try:
        return visits.record(db, dict(visit))
    except database.DatabaseError as error:
        return error


def _stored(db, uuid):
    return database.scalar(db, "SELECT count(*) FROM visits WHERE uuid = ?", [uuid])


def test_a_resend_while_the_first_send_is_being_written_waits_and_is_the_stored_visit(two_connections):
    """The second send of a uuid arrives while the first one's transaction is still open: it waits for that
    transaction, then finds the visit (a unique violation, or a second row, would be a failed or doubled send)."""
    first, second, user_id, household_id = two_connections
    visit = _visit(user_id, household_id, 0)
    answers = {}

    def resend():
        answers["second"] = _send(second, visit)

    with database.write(first):
        answers["first"] = visits.record(first, dict(visit))
        thread = threading.Thread(target=resend)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), answers  # waiting for the first send's transaction
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert answers["first"][0] == "created" and answers["second"] == ("existing", answers["first"][1])
    assert _stored(first, visit["uuid"]) == 1


def test_resends_at_the_same_moment_on_two_connections_are_stored_once(two_connections):
    first, second, user_id, household_id = two_connections
    for n in range(1, 11):
        visit = _visit(user_id, household_id, n)
        gate = threading.Barrier(2)
        answers = []

        def send(db):
            gate.wait()
            answers.append(_send(db, visit))

        threads = [threading.Thread(target=send, args=(db,)) for db in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
        assert sorted(answer[0] if isinstance(answer, tuple) else repr(answer) for answer in answers) == [
            "created", "existing"], answers
        assert answers[0][1] == answers[1][1]
        assert _stored(first, visit["uuid"]) == 1
