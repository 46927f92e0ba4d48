"""Assignments: which members hold which cells, per cell and per member; assign, transfer, end; history."""
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from fieldapp import access, inputs, rules
from fieldapp.data import assignments, audit, users
from fieldapp.data.assignments import AssignmentError
from fieldapp.access import roles_required
from fieldapp.db import get_db
from fieldapp.templating import render

bp = Blueprint("assignments", __name__, url_prefix="/assignments")
REASONS = {"already_assigned": lambda: _("This member holds this cell already."),
           "not_open": lambda: _("This assignment has ended already."),
           "same_member": lambda: _("Choose another member to hand the cell to.")}


def _back(cell_id):
    """Where to go after a change: the member's page if the form came from there, else the cell's."""
    member = inputs.record_id(request.form.get("back_member"))
    if member is not None:
        return redirect(url_for("assignments.member", user_id=member), code=303)
    return redirect(url_for("assignments.cell", cell_id=cell_id), code=303)


@bp.route("/")
@roles_required("leader", "admin")
def index():
    """Every cell in the user's scope with the members holding it now, and the members."""
    db = get_db()
    return render("assignments/index.html", cells=assignments.cells_with_members(db, access.cell_scope(db, current_user)),
                  members=assignments.members(db))


def day_errors(args, today):
    """Check the optional ?on= day of the 'who was responsible' question; return (error, day)."""
    try:
        return None, inputs.day(args.get("on"), _("Day"), today)
    except inputs.BadValue as error:
        return str(error), None


@bp.route("/cells/<int:cell_id>")
@roles_required("leader", "admin")
def cell(cell_id):
    """A cell's members now, forms to assign, transfer and end, its history and who held it on a day."""
    db = get_db()
    found = access.cell_or_404(db, current_user, cell_id)
    error, day = day_errors(request.args, rules.today(ZoneInfo(current_app.config["TIMEZONE"])))
    responsible = None
    if day:
        responsible = assignments.responsible_on(db, cell_id, day, ZoneInfo(current_app.config["TIMEZONE"]))
    history = assignments.history_of_cell(db, cell_id)
    return render("assignments/cell.html", cell=found, history=history, members=assignments.members(db),
                  holders=[a for a in history if a["valid_to"] is None], day=day, day_error=error,
                  responsible=responsible, status=422 if error else 200)


@bp.route("/members/<int:user_id>")
@roles_required("leader", "admin")
def member(user_id):
    """A member's cells now (in the user's scope), a form to give another cell, and the history."""
    db = get_db()
    person = access.member_account_or_404(db, user_id)
    scope = access.cell_scope(db, current_user)
    history = assignments.history_of_member(db, user_id, scope)
    held = {a["cell_id"] for a in history if a["valid_to"] is None}
    choices = [c for c in assignments.cells_with_members(db, scope) if c["id"] not in held]
    return render("assignments/member.html", member=person, history=history, choices=choices,
                  holding=[a for a in history if a["valid_to"] is None])


def _change(action, cell_id, **detail):
    """Run an assignment change; a refused one is flashed, a made one written to the audit log.

    action returns how many unfinished requests passed to the cell's next holder (or None)."""
    try:
        handed = action() or 0
    except AssignmentError as error:
        flash(REASONS[error.args[0]](), "error")
        return
    audit.log(get_db(), user_id=current_user.id, action="assignment", target_type="cell", target_id=cell_id,
              detail={**detail, "requests_handed_over": handed}, ip=request.remote_addr)
    flash(_("Saved. The members' lists show the change now."), "info")
    if handed:
        flash(ngettext("%(num)d unfinished request passed with the cell.",
                       "%(num)d unfinished requests passed with the cell.", handed), "info")


def _requests_follow():
    """Whether the cell's unfinished requests go with it: yes, unless the leader chose to leave them."""
    return request.form.get("keep_requests") != "1"


def _posted_member(name):
    """The active member named by form field name, or None."""
    value = inputs.record_id(request.form.get(name))
    member = users.get(get_db(), value) if value is not None else None
    return member if member and member["role"] == "member" and member["active"] else None


@bp.route("/cells/<int:cell_id>/assign", methods=["POST"])
@roles_required("leader", "admin")
def assign(cell_id):
    """Make a member responsible for the cell from now on."""
    access.cell_or_404(get_db(), current_user, cell_id)
    person = _posted_member("member")
    if person is None:
        flash(_("Choose a member."), "error")
    else:
        _change(lambda: assignments.assign(get_db(), cell_id, person["id"], current_user.id), cell_id,
                change="assign", member=person["id"])
    return _back(cell_id)


@bp.route("/members/<int:user_id>/assign", methods=["POST"])
@roles_required("leader", "admin")
def give_cell(user_id):
    """Give the member one more cell (chosen in the form) from now on."""
    person = access.member_account_or_404(get_db(), user_id)
    value = inputs.record_id(request.form.get("cell"))
    if value is None:
        flash(_("Choose a cell."), "error")
        return redirect(url_for("assignments.member", user_id=user_id), code=303)
    cell_id = access.cell_or_404(get_db(), current_user, value)["id"]
    if not person["active"]:
        flash(_("Choose a member."), "error")
    else:
        _change(lambda: assignments.assign(get_db(), cell_id, user_id, current_user.id), cell_id,
                change="assign", member=user_id)
    return redirect(url_for("assignments.member", user_id=user_id), code=303)


@bp.route("/cells/<int:cell_id>/transfer", methods=["POST"])
@roles_required("leader", "admin")
def transfer(cell_id):
    """Hand the cell from one member to another in one step."""
    access.cell_or_404(get_db(), current_user, cell_id)
    giver = inputs.record_id(request.form.get("from"))
    person = _posted_member("to")
    if person is None or giver is None:
        flash(_("Choose a member."), "error")
    else:
        follow = _requests_follow()
        _change(lambda: assignments.transfer(get_db(), cell_id, giver, person["id"], current_user.id,
                                             requests_follow=follow), cell_id,
                change="transfer", member=person["id"], previous=giver)
    return _back(cell_id)


@bp.route("/<int:assignment_id>/end", methods=["POST"])
@roles_required("leader", "admin")
def end(assignment_id):
    """End an assignment now; it stays in the history."""
    found = assignments.get(get_db(), assignment_id)
    if found is None:
        abort(404)
    access.cell_or_404(get_db(), current_user, found["cell_id"])
    follow = _requests_follow()
    _change(lambda: assignments.end(get_db(), assignment_id, by=current_user.id, requests_follow=follow)[1],
            found["cell_id"], change="end", member=found["user_id"])
    return _back(found["cell_id"])
