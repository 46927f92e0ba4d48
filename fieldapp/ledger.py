"""The residents' request ledger (群众台账): the list with filters, a request's page with its history,
each step of its lifecycle, and a request entered directly by a leader (e.g. from a phone call)."""
import uuid as uuidlib
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from fieldapp import access, inputs, photos, photostore, rules
from fieldapp.data import audit, cells, coverage
from fieldapp.data import ledger
from fieldapp.data import photos as photo_data
from fieldapp.data import requests as request_data
from fieldapp.i18n import LABELS
from fieldapp.access import roles_required
from fieldapp.clock import clock
from fieldapp.db import get_db
from fieldapp.templating import render

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

MAX_TEXT = 2000
PAGE = 50
CHANNELS = ("door", "phone")
# A resolution's photos as a form sends them without JavaScript: camera originals, unshrunk.
RESOLVE_LIMIT = photo_data.MAX_PER_RECORD * photo_data.MAX_BYTES + 1024 * 1024


@bp.url_value_preprocessor
def allow_resolution_photos(endpoint, values):
    """Raise the body limit for a resolution's photos, before CSRF protection reads the form."""
    if endpoint == "ledger.resolve":
        request.max_content_length = RESOLVE_LIMIT


@bp.errorhandler(413)
def photos_too_large(error):
    """A resolution whose photos are over the limit in all: the request's page, saying so; nothing was saved."""
    db = get_db()
    found = access.request_or_404(db, current_user, request.view_args["request_id"])
    message = _("The photos are too large together: at most %(mb)d MB.", mb=RESOLVE_LIMIT // 1048576)
    return _page(db, found, {"photos": message, "action": "resolve"}, status=413)


def _due_date(raw, today, errors):
    """The due date typed in a form, from today to a year ahead; None with an error at due_date otherwise."""
    try:
        due = inputs.day(raw, _("Due date"), today)
    except inputs.BadValue as error:
        errors["due_date"] = _("Enter the due date as a date.") if error.reason == "format" else error.message
        return None
    if due is None:
        errors["due_date"] = _("Enter the due date as a date.")
    elif due < today:
        errors["due_date"] = _("The due date lies in the past; choose today or a later day.")
        return None
    return due


def parse_filters(args, *, categories, cell_ids, people, now):
    """Read the list's filters from args; values that are not known are dropped and named in notices."""
    today = date.fromisoformat(now["today"])
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    filters, notices = {}, []
    if args.get("status"):
        if args["status"] in rules.REQUEST_STATUSES:
            filters["status"] = args["status"]
        else:
            notices.append(_("Unknown status filter ignored."))
    if args.get("category"):
        if args["category"] in categories:
            filters["category"] = args["category"]
        else:
            notices.append(_("Unknown category filter ignored."))
    for key, known, message in (("cell", cell_ids, _("Unknown cell filter ignored.")),
                                ("responsible", people, _("Unknown responsible person filter ignored."))):
        if args.get(key):
            if inputs.record_id(args[key]) in known:
                filters[key] = inputs.record_id(args[key])
            else:
                notices.append(message)
    filters["overdue"] = args.get("overdue") == "1"
    days = {}
    for key, label in (("raised_from", _("Raised from")), ("raised_to", _("Raised until"))):
        try:
            days[key] = inputs.day(args.get(key), label, today)
        except inputs.BadValue as error:
            notices.append(_("%(problem)s The date was ignored.", problem=error.message))
    try:
        inputs.span(days.get("raised_from"), days.get("raised_to"), _("Raised until"))
    except inputs.BadValue as error:
        notices.append(_("%(problem)s The date was ignored.", problem=error.message))
        days.pop("raised_to")
    for key, shift in (("raised_from", 0), ("raised_to", 1)):
        if days.get(key):
            filters[key] = rules.local_midnight_utc(days[key] + timedelta(days=shift), tz)
    return filters, notices


@bp.route("/")
@login_required
def index():
    """The ledger: requests in the user's scope with filters and counts per status."""
    db = get_db()
    now = clock(db)
    scope = access.request_scope(db, current_user)
    cell_list = coverage.cells(db, scope["cell_ids"])
    people = ledger.responsible_people(db, scope)
    filters, notices = parse_filters(request.args, categories={c["code"] for c in request_data.categories(db)},
                                     cell_ids={c["id"] for c in cell_list}, people={p["id"] for p in people}, now=now)
    counts = ledger.counts(db, scope, filters, now["today"])
    shown = counts[filters["status"]] if filters.get("status") else counts["all"]
    page, notice = inputs.page_number(request.args.get("page"), max(1, -(-shown // PAGE)))
    notices += [notice] if notice else []
    found = ledger.listing(db, scope, filters, now["today"], limit=PAGE + 1, offset=(page - 1) * PAGE)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render("ledger/index.html", "ledger/_list.html", requests=found[:PAGE], more=len(found) > PAGE, page_number=page,
                  counts=counts, filters=filters, notices=notices, args=args,
                  cells=cell_list, people=people, categories=request_data.categories(db), today=now["today"],
                  awaiting=ledger.awaiting_return_visit(db, scope)[:10] if current_user.role == "member" else [])


def _page(db, found, errors=None, form=None, status=200):
    """The request's page, with errors at the fields of the action that was refused."""
    now = clock(db)
    today = date.fromisoformat(now["today"])
    due_days = {c["code"]: c["due_days"] for c in request_data.categories(db)}[found["category"]]
    form = form or MultiDict()
    return render("ledger/show.html", item=found, events=ledger.events(db, found["id"]), errors=errors or {},
                  proof=photo_data.for_request(db, found["id"], found["visit_id"]),
                  step_uuid=_step_uuid(form) or str(uuidlib.uuid4()), max_photos=photo_data.MAX_PER_RECORD,
                  form=form, today=today, status=status,
                  days_late=rules.days_late(date.fromisoformat(found["due_date"]), today),
                  actions=rules.allowed_actions(found["status"]),
                  may_lead=current_user.role in ("leader", "admin"),
                  see_household=access.may_see_cell(db, current_user, found["cell_id"]),
                  candidates=ledger.candidates(db, found["grid_id"], rules.iso(rules.utcnow())),
                  default_due=(today + timedelta(days=due_days)).isoformat())


@bp.route("/<int:request_id>")
@login_required
def show(request_id):
    """A request: what, for whom, raised by whom in which visit, who answers by when, and its history."""
    db = get_db()
    return _page(db, access.request_or_404(db, current_user, request_id))


def _text(form, name, errors, message):
    """Required text of at most MAX_TEXT characters from form, or None with an error at name."""
    text = (form.get(name) or "").strip()
    if not text:
        errors[name] = message
    elif len(text) > MAX_TEXT:
        errors[name] = _("At most %(n)d characters.", n=MAX_TEXT)
    return text


def parse_action(action, form, *, candidates, today):
    """Check the form of a ledger action. Returns (note, data, errors by field)."""
    errors, data, note = {}, {}, None
    if action == "progress":
        note = _text(form, "note", errors, _("Write what was done."))
    elif action == "resolve":
        note = _text(form, "resolution", errors, _("Resolving needs a resolution: write how the request was answered."))
    elif action == "assign":
        who = inputs.record_id(form.get("responsible_user_id"))
        if who not in candidates:
            errors["responsible_user_id"] = _("Choose a responsible person of this grid.")
        else:
            data["responsible_user_id"] = who
        due = _due_date(form.get("due_date"), today, errors)
        if due:
            data["due_date"] = due.isoformat()
        note = (form.get("note") or "").strip()[:MAX_TEXT] or None
    elif action == "refer":
        if form.get("referral") not in LABELS["referral"]:
            errors["referral"] = _("Choose the service platform or organisation to refer to.")
        data["referral"] = form.get("referral")
        note = (form.get("note") or "").strip()[:MAX_TEXT] or None
    elif action == "return_visit":
        if form.get("answer") not in ("satisfied", "not_satisfied"):
            errors["answer"] = _("Closing needs the resident's confirmation: record the return visit as satisfied or not satisfied.")
        if form.get("channel") not in CHANNELS:
            errors["channel"] = _("Closing needs a return visit: say how the resident was asked (at the door or by phone).")
        data["channel"] = form.get("channel")
        note = (form.get("feedback") or "").strip()
        if form.get("answer") == "not_satisfied" and not note:
            errors["feedback"] = _("Write what the resident is not satisfied with.")
        elif len(note) > MAX_TEXT:
            errors["feedback"] = _("At most %(n)d characters.", n=MAX_TEXT)
        note = note or None
    return note, data, errors


def _step_uuid(form):
    """The client id a step's form carries (a resent form carries the same), or None."""
    try:
        return str(uuidlib.UUID(form.get("step_uuid", "")))
    except ValueError:
        return None


def parse_photos(files, captions):
    """Check a resolution's photos (uploaded files, unshrunk) and their captions (one line each). Returns
    ([(sha256 of the file, Prepared, caption)], errors by field)."""
    chosen = [upload for upload in files if upload and upload.filename]
    if len(chosen) > photo_data.MAX_PER_RECORD:
        return [], {"photos": _("At most %(n)d photos per visit or resolution.", n=photo_data.MAX_PER_RECORD)}
    lines = [line.strip() for line in (captions or "").splitlines()]
    if any(len(line) > photos.MAX_CAPTION for line in lines):
        return [], {"captions": _("At most %(n)d characters.", n=photos.MAX_CAPTION)}
    prepared, problems = [], []
    for number, upload in enumerate(chosen):
        raw = upload.read(photo_data.MAX_BYTES + 1)
        try:
            prepared.append((photostore.sha256(raw), photo_data.prepare(raw),
                             lines[number] if number < len(lines) and lines[number] else None))
        except photo_data.PhotoRefused as refused:
            problems.append(_("“%(name)s”: %(problem)s", name=upload.filename[:80],
                              problem=photos.refused_messages()[refused.reason][1]))
    if problems:
        return [], {"photos": " ".join(problems + [_("Choose the photos again; nothing was saved.")])}
    return prepared, {}


def _resolve(db, found, note, version):
    """Resolve found with the form's photos in one go; the answer to the form."""
    step_uuid = _step_uuid(request.form) or str(uuidlib.uuid4())
    if photo_data.resolved_before(db, found["id"], step_uuid):  # a resent form: its photos are not read again
        flash(_("This resolution was already saved."), "info")
        return redirect(url_for("ledger.show", request_id=found["id"]))
    chosen, errors = parse_photos(request.files.getlist("photos"), request.form.get("captions"))
    if errors:
        return _page(db, found, {**errors, "action": "resolve"}, request.form, status=422)
    try:
        done = photo_data.resolve(db, photostore.from_config(current_app.config), found["id"], uuid=step_uuid,
                                  user_id=current_user.id, at=rules.iso(rules.utcnow()), version=version, note=note,
                                  photos=chosen)
    except photo_data.PhotoRefused:
        message = _("At most %(n)d photos per visit or resolution.", n=photo_data.MAX_PER_RECORD)
        return _page(db, found, {"photos": message, "action": "resolve"}, request.form, status=422)
    flash(DONE["resolve"]() if done == "created" else _("This resolution was already saved."), "info")
    return redirect(url_for("ledger.show", request_id=found["id"]))


def _act(request_id, action):
    """Check and take one ledger action from the request's page; a refusal changes nothing."""
    db = get_db()
    found = access.request_or_404(db, current_user, request_id)
    today = date.fromisoformat(clock(db)["today"])
    candidates = {c["id"] for c in ledger.candidates(db, found["grid_id"], rules.iso(rules.utcnow()))}
    note, data, errors = parse_action(action, request.form, candidates=candidates, today=today)
    version = inputs.whole_number(request.form.get("version"))
    if version is None:
        errors["version"] = _("The form is incomplete; reload the page.")
    if errors:
        return _page(db, found, {**errors, "action": action}, request.form, status=422)
    step = action if action != "return_visit" else ("confirm" if request.form["answer"] == "satisfied" else "reopen")
    try:
        if action == "resolve":
            return _resolve(db, found, note, version)
        ledger.apply(db, request_id, step, user_id=current_user.id, at=rules.iso(rules.utcnow()),
                     version=version, note=note, data=data)
    except ledger.StaleRequest:
        message = _("Someone else changed this request meanwhile, so nothing was saved. The page now shows its "
                    "current state: check it and try again.")
        return _page(db, ledger.get(db, request_id), {"stale": message, "action": action}, request.form, status=409)
    except rules.IllegalTransition:
        message = {"return_visit": _("Only a resolved request can be closed or reopened, after a return visit.")}.get(
            action, _("This step is not possible for a request that is %(status)s.",
                      status=LABELS["request_status"][found["status"]]))
        return _page(db, found, {"transition": message, "action": action}, request.form, status=409)
    flash(DONE[step](), "info")
    return redirect(url_for("ledger.show", request_id=request_id))


DONE = {"progress": lambda: _("Progress noted."), "resolve": lambda: _("Request resolved: a return visit is now due."),
        "assign": lambda: _("Responsible person and due date saved."), "refer": lambda: _("Referral saved."),
        "confirm": lambda: _("Return visit recorded: the resident is satisfied and the request is closed."),
        "reopen": lambda: _("Return visit recorded: the resident is not satisfied and the request is open again.")}


@bp.route("/<int:request_id>/progress", methods=["POST"])
@login_required
def progress(request_id):
    """Note progress on a request (an open one moves to in progress)."""
    return _act(request_id, "progress")


@bp.route("/<int:request_id>/resolve", methods=["POST"])
@login_required
def resolve(request_id):
    """Resolve a request with its resolution; a return visit is then due."""
    return _act(request_id, "resolve")


@bp.route("/<int:request_id>/return-visit", methods=["POST"])
@login_required
def return_visit(request_id):
    """Record the resident's answer at the return visit: satisfied closes it, not satisfied reopens it."""
    return _act(request_id, "return_visit")


@bp.route("/<int:request_id>/assign", methods=["POST"])
@roles_required("leader", "admin")
def assign(request_id):
    """Make someone of the grid responsible for a request, with a due date."""
    return _act(request_id, "assign")


@bp.route("/<int:request_id>/refer", methods=["POST"])
@roles_required("leader", "admin")
def refer(request_id):
    """Refer a request to a service platform or organisation."""
    return _act(request_id, "refer")


def parse_new(form, *, categories, candidates, today):
    """Check a request entered directly. Returns (values, errors by field)."""
    errors = {}
    known = {c["code"]: c for c in categories}
    category = form.get("category") or ""
    if category not in known:
        errors["category"] = _("Choose a category for the request.")
    description = _text(form, "description", errors, _("Describe what the resident needs."))
    who = inputs.record_id(form.get("responsible_user_id"))
    if who not in candidates:
        errors["responsible_user_id"] = _("Choose a responsible person of this grid.")
    if not form.get("due_date") and category in known:
        due = rules.request_due_date(today, known[category]["due_days"])
    else:
        due = _due_date(form.get("due_date"), today, errors)
    if form.get("channel") not in ("phone", "walk_in", "other"):
        errors["channel"] = _("Say how the request came in.")
    try:
        request_uuid = str(uuidlib.UUID(form.get("uuid", "")))
    except ValueError:
        request_uuid = str(uuidlib.uuid4())
    return {"uuid": request_uuid, "category": category, "description": description, "channel": form.get("channel"),
            "responsible_user_id": who,
            "due_date": due.isoformat() if due else None}, errors


@bp.route("/new", methods=["GET", "POST"])
@roles_required("leader", "admin")
def new():
    """Enter a request directly for a household of the grid, e.g. after a resident's phone call."""
    db = get_db()
    now = clock(db)
    today = date.fromisoformat(now["today"])
    scope = access.cell_scope(db, current_user)
    household_id = inputs.record_id(request.values.get("household"))
    if household_id is None:
        # A name is searched by POST: it stays out of URLs, and the search goes to the audit log.
        search = request.form.get("q", "").strip()[:50] if request.method == "POST" else ""
        found = ledger.find_households(db, scope, search) if search else []
        if search:
            audit.log(db, user_id=current_user.id, action="search", detail={
                "page": "new_request", "query": search, "found": len(found)}, ip=request.remote_addr)
        return render("ledger/new.html", household=None, search=search, found=found)
    household = access.household_or_404(db, current_user, household_id)
    cell = cells.get(db, household["cell_id"])
    people = ledger.candidates(db, cell["grid_id"], rules.iso(rules.utcnow()))
    categories = request_data.categories(db)
    errors, form = {}, request.form
    if request.method == "POST":
        values, errors = parse_new(form, categories=categories, candidates={p["id"] for p in people}, today=today)
        if not errors:
            created, request_id = ledger.create(db, **values, household_id=household["id"], user_id=current_user.id,
                                                at=rules.iso(rules.utcnow()))
            flash(_("Request entered in the ledger.") if created else _("This request was already entered."), "info")
            return redirect(url_for("ledger.show", request_id=request_id))
    holders = {p["id"] for p in cells.responsible_members(db, household["cell_id"], rules.iso(rules.utcnow()))}
    return render("ledger/new.html", household=household, people=people, categories=categories, errors=errors,
                  form=form, uuid=form.get("uuid") or str(uuidlib.uuid4()), holders=holders,
                  default_responsible=next((p["id"] for p in people if p["id"] in holders), None),
                  default_days={c["code"]: c["due_days"] for c in categories}, today=today,
                  status=422 if errors else 200)
