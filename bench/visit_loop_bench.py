"""Server time of "my households" and of a household page for a member with ~300 households, on the
100,000-household demo, next to a bare Flask page of the same size served by the same app.

    .venv/bin/python bench/visit_loop_bench.py [--runs 50]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import big_database, signed_in_client, timings  # noqa: E402
from fieldapp import create_app  # noqa: E402
from fieldapp.data import db as database  # noqa: E402


def member_near(db, target=300):
    """The member whose cells hold closest to target households today, and that count."""
    row = database.one(db, """
        SELECT u.username, count(h.id) AS households FROM users u
        JOIN assignments a ON a.user_id = u.id AND a.valid_to IS NULL
        JOIN households h ON h.cell_id = a.cell_id
        WHERE u.role = 'member' GROUP BY u.id ORDER BY abs(count(h.id) - ?) LIMIT 1""", [target])
    return row["username"], row["households"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    path = big_database()
    app = create_app({"DATABASE": path, "SECRET_KEY": "bench"})
    bare = {}  # a bare page: the same bytes, no database, no template, no login
    app.add_url_rule("/bench/bare/<int:size>", "bare", lambda size: bare[size])
    db = database.connect(path)
    username, count = member_near(db)
    household_id = database.scalar(db, """SELECT h.id FROM households h JOIN assignments a ON a.cell_id = h.cell_id
        JOIN users u ON u.id = a.user_id WHERE u.username = ? AND a.valid_to IS NULL
        ORDER BY (SELECT count(*) FROM visits v WHERE v.household_id = h.id) DESC LIMIT 1""", [username])
    client = signed_in_client(app, username)
    pages = {"my households": "/households/", "household page": f"/households/{household_id}"}
    responses = {name: client.get(url) for name, url in pages.items()}
    assert all(r.status_code == 200 for r in responses.values()), "a page did not render"
    bodies = {name: response.get_data() for name, response in responses.items()}
    bare.update({len(body): body for body in bodies.values()})
    print(f"member {username} with {count} households; {args.runs} runs each; server time in ms")
    print(f"{'page':<16} {'bytes':>8} {'p50':>8} {'p95':>8} {'bare p50':>9} {'bare p95':>9} {'ratio p50':>9}")
    for name, url in pages.items():
        size = len(bodies[name])
        p50, p95 = timings(lambda: client.get(url), args.runs)
        b50, b95 = timings(lambda: client.get(f"/bench/bare/{size}"), args.runs)
        print(f"{name:<16} {size:>8} {p50:>8.1f} {p95:>8.1f} {b50:>9.2f} {b95:>9.2f} {p50 / b50:>8.1f}x")


if __name__ == "__main__":
    main()
