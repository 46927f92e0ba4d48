"""A small load-and-crash run (bench/crash_bench.py): gunicorn is SIGKILLed and restarted while phones send
visits; every acknowledged visit is stored exactly once and every conflicting resend is kept."""
import os

import pytest

from bench import crash_bench
from fieldapp.data import db as database
from tests import factories


@pytest.fixture
def community(tmp_path):
    """A database file with three members, each holding a cell of five households."""
    path = str(tmp_path / "community.db")
    db = database.connect(path, migrate=True)
    grid = factories.make_grid(db)
    for n in range(3):
        cell = factories.make_cell(db, grid, lon=120.10 + n * 0.01)
        factories.assign(db, cell, factories.make_user(db, "member", f"phone{n}"))
        for _ in range(5):
            factories.make_household(db, cell)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


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
