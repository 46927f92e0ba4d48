"""Keeping the register current from the household page: add and edit residents, mark a household vacant or
occupied again, retire it, add one found at the door (checks in registerform.py, records in data/register.py)."""
import json
import uuid as uuidlib

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from fieldapp import access, registerform, rules
from fieldapp.clock import clock
from fieldapp.data import audit, households
from fieldapp.data import register as register_data
from fieldapp.db import get_db
from fieldapp.i18n import labels
from fieldapp.templating import render

bp = Blueprint("register", __name__, url_prefix="/households")


def _resident_or_404(db, household_id, resident_id):
    """The household's current resident resident_id; otherwise 404 (another household's, or gone)."""
    resident = next((r for r in register_data.residents(db, household_id) if r["id"] == resident_id), None)
    if resident is None:
        abort(404)
    return resident


def _already_saved(db, raw_changes):
    """Whether a change of this form was recorded before (a double tap, a resend): nothing is applied again."""
    return any(register_data.by_uuid(db, raw["uuid"]) for raw in raw_changes if raw.get("uuid"))


def _save(db, household_id, changes):
    """Record the checked changes in one transaction and say what became of them."""
    results = register_data.record_all(db, changes, ip=request.remote_addr)
    kept = sum(1 for result, _id in results if result == "conflict")
    if kept:
        flash(_("Someone changed this meanwhile: %(n)d change(s) kept for the leader's review, not applied.", n=kept),
              "error")
    else:
        flash(_("Change saved."), "info")
    return redirect(url_for("households.show", household_id=household_id, _anchor="residents"))


def _form_page(household, resident, form, errors, status=200):
    """The resident's form (resident None: a new one)."""
    db = get_db()
    return render("register/resident.html", household=household, resident=resident, form=form, errors=errors,
                  tags=register_data.tags(db), relations=registerform.RELATIONS, mask=rules.mask_phone,
                  today=clock(db)["today"],
                  form_uuid=form.get("uuid") or str(uuidlib.uuid4()), status=status)


@bp.route("/<int:household_id>/residents/new", methods=["GET", "POST"])
@login_required
def add_resident(household_id):
    """Add a resident to the household, with a reason."""
    db = get_db()
    household = access.household_or_404(db, current_user, household_id)
    if request.method == "GET":
        return _form_page(household, None, MultiDict(), {})
    raw = registerform.new_resident_change(request.form, "", form_uuid=request.form.get("uuid"),
                                           household_id=household_id)
    if raw and _already_saved(db, [raw]):
        flash(_("This change was already saved."), "info")
        return redirect(url_for("households.show", household_id=household_id, _anchor="residents"))
    if raw is None:
        return _form_page(household, None, request.form, {"name": _("Give the resident's name.")}, 422)
    changes, errors = registerform.check_form_changes(db, current_user, [raw], "", now=rules.utcnow(),
                                                      clock=clock(db), household=household)
    if errors:
        return _form_page(household, None, request.form, errors, 422)
    return _save(db, household_id, changes)


@bp.route("/<int:household_id>/residents/<int:resident_id>/edit", methods=["GET", "POST"])
@login_required
def edit_resident(household_id, resident_id):
    """Correct a resident, add or end a tag, or mark them moved out or deceased; each change with a reason."""
    db = get_db()
    household = access.household_or_404(db, current_user, household_id)
    if request.method == "POST":
        raw = registerform.resident_changes(request.form, "", {"id": resident_id}, form_uuid=request.form.get("uuid"),
                                            household_id=household_id)
        if _already_saved(db, raw):
            flash(_("This change was already saved."), "info")
            return redirect(url_for("households.show", household_id=household_id, _anchor="residents"))
    resident = _resident_or_404(db, household_id, resident_id)
    if request.method == "GET":
        audit.log(db, user_id=current_user.id, action="view_resident", target_type="resident",
                  target_id=resident_id, ip=request.remote_addr)
        return _form_page(household, resident, MultiDict(), {})
    if not raw:
        return _form_page(household, resident, request.form, {"form": _("Nothing was changed.")}, 422)
    changes, errors = registerform.check_form_changes(db, current_user, raw, "", now=rules.utcnow(),
                                                      clock=clock(db), household=household)
    if errors:
        return _form_page(household, resident, request.form, errors, 422)
    return _save(db, household_id, changes)


@bp.route("/<int:household_id>/occupancy", methods=["GET", "POST"])
@login_required
def occupancy(household_id):
    """Mark the household vacant, or occupied again, with a reason."""
    db = get_db()
    household = access.household_or_404(db, current_user, household_id)
    form, errors = request.form, {}
    if request.method == "POST":
        after = form.get("occupancy", "")
        raw = {"uuid": form.get("uuid"), "household_id": household_id, "before": form.get("before"),
               "after": after, "reason": form.get("reason"),
               "kind": "household_occupied" if after == "occupied" else "household_vacant"}
        if _already_saved(db, [raw]):
            flash(_("This change was already saved."), "info")
            return redirect(url_for("households.show", household_id=household_id))
        change, _status, errors = registerform.check_change(db, current_user, raw, now=rules.utcnow(),
                                                            clock=clock(db))
        if change and change["before"] == change["after"]:
            errors = {"occupancy": _("The household is marked so already.")}
        if not errors:
            return _save(db, household_id, [change])
    return render("register/occupancy.html", household=household, form=form, errors=errors,
                  form_uuid=form.get("uuid") or str(uuidlib.uuid4()), status=422 if errors else 200)


@bp.route("/<int:household_id>/retire", methods=["GET", "POST"])
@login_required
def retire(household_id):
    """Retire a household that no longer exists (demolished, merged): kept with its history, never deleted."""
    db = get_db()
    household = access.household_or_404(db, current_user, household_id)
    form, errors = request.form, {}
    if request.method == "POST":
        raw = {"uuid": form.get("uuid"), "household_id": household_id, "kind": "household_retired",
               "after": form.get("retired"), "reason": form.get("reason")}
        if _already_saved(db, [raw]):
            flash(_("This change was already saved."), "info")
            return redirect(url_for("households.show", household_id=household_id))
        change, _status, errors = registerform.check_change(db, current_user, raw, now=rules.utcnow(),
                                                            clock=clock(db))
        if not errors:
            register_data.record_all(db, [change], ip=request.remote_addr)
            flash(_("The household is retired: it leaves your list, its history stays."), "info")
            return redirect(url_for("households.show", household_id=household_id))
    return render("register/retire.html", household=household, form=form, errors=errors,
                  reasons=registerform.RETIRE_REASONS, form_uuid=form.get("uuid") or str(uuidlib.uuid4()),
                  status=422 if errors else 200)


@bp.route("/add", methods=["GET", "POST"])
@login_required
def add_household():
    """Add a household found at the door into one of the user's cells: a room of a building, or a village house
    at the phone's position."""
    db = get_db()
    scope = access.cell_scope(db, current_user)
    form, errors = request.form, {}
    if request.method == "POST":
        now = rules.utcnow()
        household, change, errors = registerform.check_new_household(db, current_user, form, now=now,
                                                                     clock=clock(db), scope=scope)
        known = register_data.by_uuid(db, change["uuid"]) if change["uuid"] else None
        if known:
            flash(_("This change was already saved."), "info")
            return redirect(url_for("households.show", household_id=known["household_id"]))
        if not errors:
            _result, new_id = register_data.add_household(db, household, change, ip=request.remote_addr)
            flash(_("Household added to your list."), "info")
            return redirect(url_for("households.show", household_id=new_id))
    return render("register/household.html", form=form, errors=errors, cells=register_data.cells_named(db, scope),
                  buildings=households.buildings_in(db, scope), form_uuid=form.get("uuid") or str(uuidlib.uuid4()),
                  status=422 if errors else 200)


# --- The household's history ----------------------------------------------------------------------------------

def _shown(change, value):
    """A value of a change as its history shows it: labels for codes, phones masked."""
    if value is None:
        return ""
    names = labels()
    field, kind = change["field"], change["kind"]
    if kind == "resident_added" or (kind in ("resident_left", "household_added") and value.startswith("{")):
        found = json.loads(value)
        if kind == "resident_added":
            parts = [found.get("name") or "", rules.mask_phone(found.get("phone"))]
            parts += [names["tag"].get(code, code) for code in found.get("tags") or ()]
            return " · ".join(part for part in parts if part)
        if kind == "household_added":
            return found.get("address") or ""
        return names["resident_status"].get(found["status"], found["status"]) + (
            f" → {found['moved_to']}" if found.get("moved_to") else "")
    if field == "phone":
        return rules.mask_phone(value) if "*" not in value else value
    if field == "tag":
        return names["tag"].get(value, value)
    if field == "status":
        return names["resident_status"].get(value, value)
    if field == "occupancy":
        return names["occupancy"].get(value, value)
    if field == "retired":
        return names["retire_reason"].get(value, value)
    if field == "relation":
        return names["relation"].get(value, value)
    return value


def history(db, household_id):
    """The household's register changes, newest first, as its page shows them."""
    shown = []
    for change in register_data.history(db, household_id):
        shown.append({**change, "before_text": _shown(change, change["before"]),
                      "after_text": _shown(change, change["after"]),
                      "server_text": _shown(change, change["server_value"])})
    return shown



# --- Inside the visit form ------------------------------------------------------------------------------------

def visit_context(db, household):
    """What the visit form's "Residents" part shows: each resident with what the page shows of them."""
    return {"register_residents": register_data.residents(db, household["id"]), "tags": register_data.tags(db),
            "relations": registerform.RELATIONS, "today": clock(db)["today"], "mask": rules.mask_phone}


def visit_changes(db, form, household):
    """The register changes a visit form posts (no JavaScript), checked. Returns (changes, errors by form field)."""
    return registerform.visit_form_changes(db, current_user, form, now=rules.utcnow(), clock=clock(db),
                                           household=household,
                                           residents=register_data.residents(db, household["id"]))
