"""The leader's review (审核): the list of a grid's doubtful visits and register changes, each item's page with its
history, the leader's decisions and questions, and the member's answers (asked on their list and the household's
page, answered there or by amending the visit)."""
import json

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from fieldapp import access, inputs, rules
from fieldapp.access import roles_required
from fieldapp.clock import clock
from fieldapp.data import audit, coverage
from fieldapp.data import photos as photo_data
from fieldapp.data import review
from fieldapp.db import get_db
from fieldapp.i18n import labels
from fieldapp.templating import render

bp = Blueprint("review", __name__, url_prefix="/review")

PAGE = 50
MAX_NOTE = 2000
STATE_FILTERS = ("open", *review.STATES, "all")

REASONS = {"off_site": _l("Off-site"), "imprecise": _l("Imprecise position"), "no_location": _l("No position"),
           "late": _l("Entered late"), "burst": _l("Many households in a few minutes"),
           "sensitive": _l("Vulnerable group"), "conflict": _l("Conflicting change")}
REASON_ICONS = {"off_site": "⚠", "imprecise": "≈", "no_location": "∅", "late": "◷", "burst": "⚡",
                "sensitive": "♥", "conflict": "⇄"}
STATES = {"new": _l("New"), "asked": _l("Waiting for the member"), "answered": _l("Answered"),
          "decided": _l("Decided"), "open": _l("Not decided"), "all": _l("All")}
ACTIONS = {"accept": _l("Accepted"), "ask": _l("Question"), "answer": _l("Answer"), "reject": _l("Rejected"),
           "apply": _l("Phone's value applied"), "keep": _l("Server's value kept")}
KINDS = {"resident_added": _l("Resident added"), "resident_corrected": _l("Resident corrected"),
         "tag_added": _l("Tag added"), "tag_ended": _l("Tag ended"), "resident_left": _l("Resident left"),
         "household_vacant": _l("Household vacant"), "household_occupied": _l("Household occupied"),
         "household_added": _l("Household added"), "household_retired": _l("Household retired")}
FIELDS = {"name": _l("Name"), "phone": _l("Phone"), "birth_year": _l("Year of birth"), "relation": _l("Relation"),
          "gender": _l("Gender"), "tag": _l("Tag"), "status": _l("Status"), "occupancy": _l("Occupancy"),
          "retired": _l("Retired")}
VALUES = {"moved_out": _l("Moved out"), "deceased": _l("Deceased"), "occupied": _l("Occupied"),
          "vacant": _l("Vacant")}
NOTE_NEEDED = {"ask": _l("Write the question for the member."),
               "reject": _l("Write why the visit does not count."), "answer": _l("Write your answer.")}
REFUSED = {"decided": _l("This item was already decided; nothing was changed."),
           "asked": _l("A question is already waiting for the member's answer; nothing was changed."),
           "not_asked": _l("No question is waiting for an answer; nothing was changed."),
           "not_allowed": _l("This action does not apply to this item; nothing was changed.")}
DONE = {"accept": _l("Accepted."), "ask": _l("Question sent to the member."),
        "reject": _l("Visit rejected: it no longer counts as a contact."),
        "apply": _l("The phone's value is now in the register."), "keep": _l("The server's value is kept."),
        "answer": _l("Answer sent to the leader.")}


def texts():
    """The words of reasons, states and actions, translated once per page."""
    return {"reasons": {k: str(v) for k, v in REASONS.items()}, "icons": REASON_ICONS,
            "states": {k: str(v) for k, v in STATES.items()}, "actions": {k: str(v) for k, v in ACTIONS.items()}}


def _value(field, value):
    """A register value as a leader reads it: tags and states in words, phones masked, none as a dash."""
    if value is None or value == "":
        return "—"
    if field == "phone":
        return rules.mask_phone(value)
    if field == "tag":
        return labels()["tag"].get(value, value)
    if value.startswith("{"):  # a resident who left, with the day and where to; a resident added
        try:
            found = json.loads(value)
        except ValueError:
            return value
        return " · ".join(str(part) for part in (_value(field, found.get("status")) if "status" in found else None,
                                                  found.get("day"), found.get("moved_to"), found.get("name")) if part)
    return str(VALUES.get(value, value))


def describe(change):
    """What a register change asks, in words: kind, field, before, after, and the server's value."""
    field = change["field"]
    return {"kind": str(KINDS.get(change["kind"], change["kind"])), "field": str(FIELDS.get(field, field or "—")),
            "before": _value(field, change["before"]), "after": _value(field, change["after"]),
            "server": _value(field, change["server_value"])}


def parse_filters(args):
    """The list's filters (reason, state) from args; unknown values are dropped and named in notices."""
    filters, notices = {"reason": None, "state": "open"}, []
    if args.get("reason"):
        if args["reason"] in review.REASONS:
            filters["reason"] = args["reason"]
        else:
            notices.append(_("Unknown reason filter ignored."))
    if args.get("status"):
        if args["status"] in STATE_FILTERS:
            filters["state"] = args["status"]
        else:
            notices.append(_("Unknown state filter ignored."))
    return filters, notices


def list_args(values):
    """The list's query arguments among values (a query string or the hidden fields of an action's form)."""
    args = {"reason": values.get("reason") if values.get("reason") in review.REASONS else None,
            "status": values.get("status") if values.get("status") in STATE_FILTERS else None,
            "grid": inputs.record_id(values.get("grid")), "page": inputs.whole_number(values.get("page"), low=2)}
    return {key: value for key, value in args.items() if value}


def _prepared(db, shown):
    """The items of shown with their change in words, and resident views written to the audit log."""
    residents = sorted({entry["resident_id"] for entry in shown if entry.get("resident_id")})
    if residents:
        audit.log(db, user_id=current_user.id, action="view_residents",
                  detail={"page": "review", "residents": residents}, ip=request.remote_addr)
    photos = photo_data.for_visits(db, [entry["id"] for entry in shown if entry["subject"] == "visit"])
    for entry in shown:
        entry["change"] = describe(entry) if entry["subject"] == "change" else None
        entry["photos"] = photos.get(entry["id"]) if entry["subject"] == "visit" else None
    return shown


@bp.route("/")
@roles_required("leader", "admin")
def index():
    """The review list of the leader's grid (an admin's: the district, or a grid), newest first."""
    db = get_db()
    cell_ids = access.cells_in_view(db, current_user, inputs.record_id(request.args.get("grid")))
    filters, notices = parse_filters(request.args)
    everything = review.items(db, cell_ids)
    chosen = review.matching(everything, filters["reason"], None if filters["state"] == "all" else filters["state"])
    page, notice = inputs.page_number(request.args.get("page"), max(1, -(-len(chosen) // PAGE)))
    notices += [notice] if notice else []
    shown = _prepared(db, review.details(db, chosen[(page - 1) * PAGE:page * PAGE]))
    back = list_args(request.args)  # where an action on an item returns to: this page of the list
    args = {key: value for key, value in back.items() if key != "page"}
    grids = {}
    if current_user.role == "admin":
        grids = {c["grid_id"]: c["grid_name"] for c in coverage.cells(db, None)}
    return render("review/index.html", "review/_list.html", shown=shown, total=len(chosen), first=(page - 1) * PAGE,
                  page_number=page, more=page * PAGE < len(chosen), counts=review.counts(everything),
                  filters=filters, notices=notices, args=args, grids=grids, texts=texts(), back=back,
                  window_days=review.WINDOW_DAYS)


def _item_or_404(db, subject, subject_id):
    """The review item if the user may see it: a member only their own visit or change, a leader their grid's;
    404 for anything else (or anything the review does not hold), which confirms nothing."""
    found = review.item(db, subject, subject_id)
    if found is None or not review.reviewable(found):
        abort(404)
    if current_user.role == "member":
        if found["user_id"] != current_user.id:
            abort(404)
    elif not access.may_see_cell(db, current_user, found["cell_id"]):
        abort(404)
    return found


def _page(db, found, errors=None, form=None, status=200):
    """An item's page: what is doubtful, its history, and the actions its state allows the user."""
    leads = current_user.role in ("leader", "admin")
    return render("review/show.html", entry=_prepared(db, [found])[0], errors=errors or {},
                  form=form or MultiDict(), texts=texts(), leads=leads, status=status,
                  may_answer=found["state"] == "asked" and (leads or found["user_id"] == current_user.id),
                  back=list_args(request.values))


@bp.route("/visits/<int:visit_id>")
@login_required
def visit(visit_id):
    """A doubtful visit's page."""
    db = get_db()
    return _page(db, _item_or_404(db, "visit", visit_id))


@bp.route("/changes/<int:change_id>")
@login_required
def change(change_id):
    """A register change's page."""
    db = get_db()
    return _page(db, _item_or_404(db, "change", change_id))


def _note(action, form, errors):
    """The text an action carries (required for a question, an answer, a rejection), or None."""
    note = (form.get("note") or "").strip()
    if not note and action in NOTE_NEEDED:
        errors["note"] = str(NOTE_NEEDED[action])
    elif len(note) > MAX_NOTE:
        errors["note"] = _("At most %(n)d characters.", n=MAX_NOTE)
    return note or None


def _act(subject, subject_id, action):
    """Check and record one action on an item; a refusal changes nothing and says why."""
    db = get_db()
    found = _item_or_404(db, subject, subject_id)
    errors = {}
    note = _note(action, request.form, errors)
    if errors:
        return _page(db, found, {**errors, "action": action}, request.form, status=422)
    try:
        _event_id, new = review.act(db, subject, subject_id, action, user_id=current_user.id,
                                    at=rules.iso(rules.utcnow()), day=clock(db)["today"], note=note,
                                    ip=request.remote_addr)
    except review.Refused as refused:
        found = _item_or_404(db, subject, subject_id)
        return _page(db, found, {"refused": str(REFUSED[refused.args[0]]), "action": action}, request.form,
                     status=409)
    flash(str(DONE[action]) if new else _("This was already saved."), "info")
    return redirect(_after(action, found))


def _after(action, found):
    """Where an action leads: an answer back to where it was given (else the item's page), a leader's action back
    to the list as it was filtered."""
    if action != "answer":
        return url_for("review.index", **list_args(request.form))
    if request.form.get("next") == "mine":
        return url_for("households.mine")
    if request.form.get("next") == "household":
        return url_for("households.show", household_id=found["household_id"])
    return url_for(f"review.{found['subject']}", **{f"{found['subject']}_id": found["id"]})


@bp.route("/visits/<int:visit_id>/accept", methods=["POST"])
@roles_required("leader", "admin")
def accept_visit(visit_id):
    """Accept a doubtful visit: it counts as recorded."""
    return _act("visit", visit_id, "accept")


@bp.route("/visits/<int:visit_id>/ask", methods=["POST"])
@roles_required("leader", "admin")
def ask_visit(visit_id):
    """Ask the visit's author a question."""
    return _act("visit", visit_id, "ask")


@bp.route("/visits/<int:visit_id>/reject", methods=["POST"])
@roles_required("leader", "admin")
def reject_visit(visit_id):
    """Reject a visit with a reason: it stops counting for coverage."""
    return _act("visit", visit_id, "reject")


@bp.route("/visits/<int:visit_id>/answer", methods=["POST"])
@login_required
def answer_visit(visit_id):
    """Answer the question on a visit (its author, or a leader of the grid)."""
    return _act("visit", visit_id, "answer")


@bp.route("/changes/<int:change_id>/accept", methods=["POST"])
@roles_required("leader", "admin")
def accept_change(change_id):
    """Accept a register change as it was made."""
    return _act("change", change_id, "accept")


@bp.route("/changes/<int:change_id>/ask", methods=["POST"])
@roles_required("leader", "admin")
def ask_change(change_id):
    """Ask the change's author a question."""
    return _act("change", change_id, "ask")


@bp.route("/changes/<int:change_id>/apply", methods=["POST"])
@roles_required("leader", "admin")
def apply_change(change_id):
    """Resolve a conflict with the phone's value."""
    return _act("change", change_id, "apply")


@bp.route("/changes/<int:change_id>/keep", methods=["POST"])
@roles_required("leader", "admin")
def keep_change(change_id):
    """Resolve a conflict by keeping the server's value."""
    return _act("change", change_id, "keep")


@bp.route("/changes/<int:change_id>/answer", methods=["POST"])
@login_required
def answer_change(change_id):
    """Answer the question on a register change (its author, or a leader of the grid)."""
    return _act("change", change_id, "answer")


def _with_words(found, back):
    """Questions as the include shows them: a change in words, where the answer leads back to."""
    for question in found:
        question["change"] = describe(question) if question["subject"] == "change" else None
        question["back"] = back
    return found


def member_questions(db, user):
    """The questions waiting for user's answer, for the top of their list of households."""
    return _with_words(review.questions(db, user_id=user.id), "mine")


def household_questions(db, user, household_id):
    """The questions waiting for an answer on a household's visits and changes that user may answer: a member
    those asked of them, a leader (the page is in their scope) all."""
    found = review.questions(db, household_id=household_id)
    if user.role == "member":
        found = [question for question in found if question["author_id"] == user.id]
    return _with_words(found, "household")

