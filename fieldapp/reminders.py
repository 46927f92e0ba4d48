"""The admin's page of the grids' group robots: each grid's webhook (kept secret), digest hour and on/off, the last
message's status, and a test message."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from fieldapp import inputs, remind
from fieldapp.access import roles_required
from fieldapp.clock import clock
from fieldapp.data import reminders
from fieldapp.db import get_db
from fieldapp.templating import render

bp = Blueprint("reminders", __name__, url_prefix="/admin/reminders")

WORDS = {"kind_labels": {"wecom": _l("WeCom"), "dingtalk": _l("DingTalk"), "feishu": _l("Feishu")},
         "status_labels": {"sent": _l("sent"), "failed": _l("failed"), "sending": _l("sending")},
         "message_labels": {"digest": _l("daily digest"), "overdue": _l("overdue alert"), "test": _l("test message")}}


@bp.route("/")
@roles_required("admin")
def index():
    """Every grid's robot and its last message, and the latest messages."""
    db = get_db()
    grids = reminders.robots(db)
    for grid in grids:
        grid["shown_target"] = remind.masked(grid["target"])
    return render("reminders/index.html", grids=grids, entries=reminders.log_entries(db), **WORDS)


def _grid_or_404(db, grid_id):
    """The grid grid_id (id, code, name), or 404."""
    grid = next((g for g in reminders.grids(db) if g["id"] == grid_id), None)
    if grid is None:
        abort(404)
    return grid


def parse_robot(form, stored):
    """Read the robot form: (values, errors by field); a blank webhook keeps the stored one."""
    errors = {}
    kind = form.get("kind", "")
    if kind not in reminders.KINDS:
        errors["kind"] = _("Choose the kind of robot.")
        kind = None
    target = (form.get("target") or "").strip() or None
    if target is None and stored is None:
        errors["target"] = _("Paste the robot's webhook address (https://…) or its key.")
    elif target is not None and kind:
        problem = remind.target_problem(kind, target)
        if problem:
            errors["target"] = problem
    hour = inputs.whole_number(form.get("digest_hour"), low=0, high=23)
    if hour is None:
        errors["digest_hour"] = _("Enter a whole hour from 0 to 23.")
    if form.get("enabled", "") not in ("", "1"):
        errors["enabled"] = _("Tick the box or leave it empty.")
    return {"kind": kind, "target": target, "digest_hour": hour, "enabled": form.get("enabled") == "1"}, errors


@bp.route("/grids/<int:grid_id>", methods=["GET", "POST"])
@roles_required("admin")
def edit(grid_id):
    """Set up or change a grid's robot; the stored webhook is never shown back whole."""
    db = get_db()
    grid = _grid_or_404(db, grid_id)
    stored = reminders.robot(db, grid_id)
    errors = {}
    if request.method == "POST":
        values, errors = parse_robot(request.form, stored)
        if not errors:
            reminders.save_robot(db, grid_id, **values, user_id=current_user.id, ip=request.remote_addr)
            flash(_("Robot saved."), "info")
            return redirect(url_for("reminders.index"))
    return render("reminders/edit.html", grid=grid, stored=stored,
                  shown_target=remind.masked(stored and stored["target"]),
                  errors=errors, form=request.form if errors else None, kinds=reminders.KINDS,
                  status=422 if errors else 200, **WORDS)


@bp.route("/grids/<int:grid_id>/test", methods=["POST"])
@roles_required("admin")
def test(grid_id):
    """Send a test message to a grid's robot, once (no retries: the admin sees the answer at once)."""
    db = get_db()
    grid = _grid_or_404(db, grid_id)
    robot = reminders.robot(db, grid_id)
    if robot is None:
        flash(_("Set up the robot first."), "error")
        return redirect(url_for("reminders.edit", grid_id=grid_id))
    with force_locale("zh"):
        body = remind.text_of_test(grid["name"])
    outcome = remind.send(db, robot, "test", clock(db)["today"], body, attempts=1)
    if outcome == "sent":
        flash(_("Test message sent."), "info")
    else:
        flash(_("The test message did not go out; the log below says why."), "error")
    return redirect(url_for("reminders.index"))
