"""Pure rules of a referral to a partner platform: the steps a partner takes, the days it has to accept and to
answer, and when it is late. No database, no Flask."""
from datetime import timedelta

# A partner's steps: step -> {from state: to state}. Anything else is refused.
STEPS = {
    "accept": {"referred": "accepted"},
    "ask": {"referred": "info_requested", "accepted": "info_requested"},
    "reply": {"accepted": "accepted", "info_requested": "accepted"},
    "hand_back": {"referred": "handed_back", "accepted": "handed_back", "info_requested": "handed_back"},
    "done": {"accepted": "done", "info_requested": "done"},
}
STEP_ORDER = ("accept", "reply", "ask", "hand_back", "done")  # the partner's page shows them in this order
OPEN_STATES = ("referred", "accepted", "info_requested")  # the partner still has to act
STATES = (*OPEN_STATES, "handed_back", "done", "withdrawn")
ACCEPT_WORKING_DAYS = 2  # a platform accepts a referral within two working days (Monday to Friday)
# The request's status after a step: accepting starts the work; the other steps leave the status to the ledger
# (the member resolves the request once the platform has answered).
REQUEST_AFTER = {"accept": {"open": "in_progress"}}


class IllegalStep(ValueError):
    """A step that the referral's current state does not allow."""


def step(state, name):
    """The state a referral moves to when the partner takes step name in state."""
    try:
        return STEPS[name][state]
    except KeyError:
        raise IllegalStep(f"{name} is not allowed on a referral that is {state}") from None


def allowed_steps(state):
    """The steps a referral in state allows, in the page's order."""
    return [name for name in STEP_ORDER if state in STEPS[name]]


def add_working_days(day, days):
    """The day days working days (Monday to Friday) after day; public holidays are not known here."""
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def accept_by(referred_day, working_days=ACCEPT_WORKING_DAYS):
    """The last day to accept a referral made on referred_day."""
    return add_working_days(referred_day, working_days)


def answer_by(due_day, referred_day, working_days=ACCEPT_WORKING_DAYS):
    """The last day to answer: the request's due date, but never before the last day to accept."""
    return max(due_day, accept_by(referred_day, working_days))


def lateness(referral, on_day):
    """Why a referral is late on on_day: "accept" (not accepted in time), "answer" (not answered by its day), or
    None. referral holds state, accept_by and answer_by (dates) and answered (bool)."""
    if referral["state"] not in OPEN_STATES:
        return None
    if referral["state"] == "referred" and referral["accept_by"] < on_day:
        return "accept"
    if not referral["answered"] and referral["answer_by"] < on_day:
        return "answer"
    return None
