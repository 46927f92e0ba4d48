"""The demo's review: the leader's events on doubtful visits (accepted; asked, the question still waiting for the
member's answer, or answered and waiting for the leader, or settled; rejected, so that the visit no longer counts)
and on register changes (deaths and sensitive tags accepted, conflicts applied or kept), and what amendments and
rejections made of visits (visit_standing)."""
from datetime import timedelta

from fieldapp.demo.words import REJECTED_ANSWER, REVIEW_ANSWERS, REVIEW_NOTES, REVIEW_QUESTIONS

# How far each kind of review went, one step a day after the visit arrived: the leader's, the member's answer.
STEPS = {"accepted": ("accept",), "asked": ("ask",), "answered": ("ask", "answer"),
         "settled": ("ask", "answer", "accept"), "rejected": ("ask", "answer", "reject")}
OFFICE = (3_600, 34_200)  # 09:00 to 17:30 in Shanghai, in seconds after midnight UTC


def office_time(rng, today, days_ago):
    """A stored UTC timestamp in office hours on the local day days_ago days before today."""
    second = rng.randint(*OFFICE)
    day = (today - timedelta(days=days_ago)).isoformat()
    return f"{day}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


def visit_events(rng, reviews, amendments, today):
    """The review events of doubtful visits (subject, subject_id, user_id, at, action, note) and visit_standing:
    an amended visit stands with its new outcome, a rejected one stands rejected.

    reviews: (visit id, kind of STEPS or None, why it is doubtful, received days ago, member, leader, outcome); the
    steps that would fall on today or later are not taken yet."""
    events, standing = [], [(visit_id, outcome, 0) for visit_id, _user, _at, _why, outcome in amendments]
    for visit_id, kind, why, received_ago, member, leader, outcome in reviews:
        steps = STEPS[kind][:received_ago - 1] if kind else ()
        for number, action in enumerate(steps, start=1):
            if action == "ask":
                note = REVIEW_QUESTIONS[why]
            elif action == "answer":
                note = REJECTED_ANSWER if kind == "rejected" else REVIEW_ANSWERS[why]
            else:
                note = rng.choice(REVIEW_NOTES[action]) if action == "reject" or rng.random() < 0.5 else None
            events.append(("visit", visit_id, member if action == "answer" else leader,
                           office_time(rng, today, received_ago - number), action, note))
        if steps and steps[-1] == "reject":
            standing.append((visit_id, outcome, 1))
    return events, standing


def change_events(rng, decided):
    """The review events of register changes: decided holds (change id, accept | apply | keep, leader, at)."""
    return [("change", change_id, leader, at, action,
             rng.choice(REVIEW_NOTES["accept_change" if action == "accept" else action]))
            for change_id, action, leader, at in decided]
