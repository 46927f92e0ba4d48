"""The member's inbox at the top of their list ("Today"): households due in order of urgency, requests due in the
next days or overdue, return visits due, the leader's questions, cells given or taken lately.

Built from the list's own rows (households.with_status) plus three small queries, so the landing page costs no
query per household. It is part of the list page, so the offline copy, which keeps that page whole, carries it
as it stood when the copy was made (the inbox says when).
"""
from datetime import date, datetime, timedelta, timezone

from fieldapp import rules
from fieldapp.data import inbox

SHOWN = 3  # households and return visits listed; the list below has them all
SHOWN_REQUESTS = 5  # requests listed; the ledger has them all
SOON_DAYS = 3  # requests due within this many days are in the inbox
RECENT_DAYS = 7  # assignments begun or ended since the last sign-in, and at least this many days


def for_member(db, user, now, households, cell_ids, questions):
    """The inbox of member user from the list's rows (households), the clock now and the user's cells."""
    today = date.fromisoformat(now["today"])
    moment = rules.utcnow()
    due = sorted((h for h in households if h["occupancy"] == "occupied" and h["needs_visit"]), key=rules.urgency_key)
    returns = [h for h in households if h.get("return_visits")]
    signed_in = rules.iso(datetime.fromtimestamp(user.signed_in_at, timezone.utc))
    week_ago = rules.iso(moment - timedelta(days=RECENT_DAYS))
    since = min(inbox.previous_sign_in(db, user.username, signed_in) or week_ago, week_ago)
    waiting = [h["id"] for h in households if h["open_requests"]]
    requests = inbox.requests_due(db, waiting, cell_ids, user.id, (today + timedelta(days=SOON_DAYS)).isoformat())
    for request in requests:
        request["overdue"] = request["due_date"] < now["today"]
    return {"due": due[:SHOWN], "due_count": len(due), "returns": returns[:SHOWN], "return_count": len(returns),
            "requests": requests[:SHOWN_REQUESTS], "request_count": len(requests), "questions": questions,
            "since": since, "made_at": rules.iso(moment),
            "assignments": inbox.assignment_changes(db, user.id, since, rules.iso(moment))}
