"""The member's households: the list in visiting order, and each household's page."""
from datetime import date

from flask import Blueprint, abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from fieldapp import access, inbox, inputs, review, rules
from fieldapp import register as register_view
from fieldapp.data import audit, cells, households, requests, visits
from fieldapp.data import photos as photo_data
from fieldapp.i18n import labels
from fieldapp.clock import clock
from fieldapp.db import get_db
from fieldapp.templating import Fragments, render, tag_from_token, tag_token, wants_fragment

bp = Blueprint("households", __name__, url_prefix="/households")

# The list's rows by what each shows (see row_values): 30,000 kept per process (a hundred lists of 300 rows
# in one language), about 60 MB.
ROWS = Fragments("households/_row.html", ("in_building", "id", "unit", "room", "address", "status", "last_visit_day",
                                          "last_visit_by", "tried", "open_requests", "return_visits", "cycle_tags",
                                          "distance_m"))


def parse_filters(args, known_tags, known_buildings):
    """Read the list's filters from args; unknown values are dropped and named in notices."""
    filters = {"q": args.get("q", "").strip()[:50], "status": None, "tag": None, "building": None,
               "order": "nearest" if args.get("order") == "nearest" else "urgency", "near": None}
    notices = []
    if args.get("status"):
        if args["status"] in rules.STATUSES:
            filters["status"] = args["status"]
        else:
            notices.append(_("Unknown status filter ignored."))
    if args.get("tag"):
        filters["tag"] = tag_from_token(args["tag"], known_tags)
        if filters["tag"] is None:
            notices.append(_("Unknown tag filter ignored."))
    if args.get("building"):
        if inputs.record_id(args["building"]) in known_buildings:
            filters["building"] = inputs.record_id(args["building"])
        else:
            notices.append(_("Unknown building filter ignored."))
    if filters["order"] == "nearest":
        try:
            lat, lon = float(args["lat"]), float(args["lon"])
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError
            filters["near"] = (lon, lat)
        except (KeyError, ValueError):
            filters["order"] = "urgency"
            notices.append(_("Your location is not available, so the list stays in order of urgency."))
    return filters, notices


def row_values(household, in_building):
    """What a household's row in the list shows, in the order of ROWS.fields: in a building its unit and room, else
    its address and distance (whole metres, as shown)."""
    distance = household["distance_m"]
    return (in_building, household["id"], household["unit"], household["room"],
            None if in_building else household["address"], household["status"], household["last_visit_day"],
            household["last_visit_by"], household["tried"], household["open_requests"], household["return_visits"],
            household["cycle_tags"], None if in_building or distance is None else f"{distance:.0f}")


@bp.route("/", methods=["GET", "POST"])
@login_required
def mine():
    """The households the signed-in user is responsible for, most urgent (or nearest) first.

    A search (an address or a resident's name) comes as a POST, so that names stay out of URLs, history and
    logs, and each search goes to the audit log; the other filters work in links too.
    """
    db = get_db()
    scope = access.cell_scope(db, current_user)
    tags = households.cycle_tags(db)
    buildings = households.buildings_in(db, scope)
    asked = request.form if request.method == "POST" else request.args
    filters, notices = parse_filters(asked, {t["code"] for t in tags}, {b["id"] for b in buildings})
    if request.method != "POST":
        filters["q"] = ""
    now = clock(db)
    everything = households.with_status(db, now, cell_ids=scope)
    shown = [h for h in everything
             if (not filters["building"] or h["building_id"] == filters["building"])
             and (not filters["status"] or h["status"] == filters["status"])]
    if filters["tag"] or filters["q"]:
        matching = households.matching_ids(db, cell_ids=scope, tag=filters["tag"], search=filters["q"] or None)
        shown = [h for h in shown if h["id"] in matching]
    for household in shown:
        household["distance_m"] = None
        if filters["near"] and household["lon"] is not None:
            household["distance_m"] = rules.distance_m(*filters["near"], household["lon"], household["lat"])
    for household in households.with_attempt_days(db, now, shown):
        household["tried"] = short_days(household["attempt_days"])  # "tried 11-03, 11-10"
    groups = rules.group_by_building(shown, filters["order"])
    for group in groups:
        group["rows"] = ROWS.html([row_values(h, bool(group["building"])) for h in group["households"]])
    occupied = [h for h in everything if h["occupancy"] == "occupied"]
    counter = {"due": sum(1 for h in occupied if h["needs_visit"]), "total": len(occupied)}
    if filters["q"]:
        audit.log(db, user_id=current_user.id, action="search", detail={
            "page": "households", "query": filters["q"], "found": len(shown)}, ip=request.remote_addr)
    questions = review.member_questions(db, current_user)
    today_box = (inbox.for_member(db, current_user, now, everything, scope, questions)
                 if current_user.role == "member" and not wants_fragment() else None)
    response = render("households/mine.html", "households/_list.html",
                      groups=groups, filters=filters, notices=notices,
                      counter=counter, tags=tags, buildings=buildings, shown_count=len(shown),
                      today=date.fromisoformat(now["today"]),
                      questions=questions, inbox=today_box)
    if request.method == "POST" and wants_fragment():
        response.headers["HX-Push-Url"] = list_url(filters)  # the filters in the address bar, never the search
    return response


def list_url(filters):
    """The list's address with the filters that name no one and place no one (status, building, tag token): never
    a search, never the member's position."""
    return url_for("households.mine", status=filters["status"], building=filters["building"],
                   tag=tag_token(filters["tag"]) if filters["tag"] else None)


def status_reason(household, today):
    """Why a household has its status, in words (e.g. last contact 41 days ago, cycle 30 days)."""
    days = household["cycle_days"]
    if household["overdue_requests"]:
        return _("%(n)d request(s) past their due date.", n=household["overdue_requests"])
    if household["open_requests"]:
        return _("%(n)d request(s) waiting for an answer.", n=household["open_requests"])
    if household.get("return_visits"):
        return _("A resolved request waits for the resident's answer: return visit due.")
    if household["status"] == "vacant":
        return _("Marked as vacant or moved out.")
    if household["last_visit_day"] is None:
        return _("Never visited; cycle %(days)d days.", days=days)
    if household["last_contact_day"] is None:
        return _("No resident reached yet; cycle %(days)d days.", days=days)
    ago = (today - date.fromisoformat(household["last_contact_day"])).days
    return _("Last contact %(ago)d days ago, cycle %(days)d days.", ago=ago, days=days)


def short_days(days):
    """ISO days as a list shows them, month and day: 11-03, 11-10."""
    return ", ".join(day[5:] for day in days)


def attempts_this_cycle(household, now):
    """What the household page says of this cycle's attempts without contact: their days, the last one, and
    whether they make the household unreachable (rules.is_unreachable), or None when there were none."""
    days = household["attempt_days"]
    if not household["attempted"] or not days:
        return None
    contact = household["last_contact_day"]
    unreachable = rules.is_unreachable(date.fromisoformat(contact) if contact else None,
                                       [date.fromisoformat(day) for day in days], household["cycle_days"],
                                       date.fromisoformat(now["today"]), now["unreachable_attempts"])
    return {"days": days, "last": days[-1], "short": short_days(days), "unreachable": unreachable}


@bp.route("/<int:household_id>")
@login_required
def show(household_id):
    """A household's page: address, status and why, residents, open requests, visit timeline."""
    db = get_db()
    household = access.household_or_404(db, current_user, household_id)
    now = clock(db)
    state = households.with_attempt_days(db, now, households.with_status(db, now, household_id=household_id))[0]
    today = date.fromisoformat(now["today"])
    timeline = visits.timeline(db, household_id)
    for visit in timeline:
        visit["amendable"] = rules.may_amend(visit, current_user.id, rules.utcnow(), current_app.config["AMEND_HOURS"])
    return render(
        "households/show.html",
        household=household, state=state, reason=status_reason(state, today), attempts=attempts_this_cycle(state, now),
        residents=households.residents(db, household_id),
        open_requests=requests.followable_for_household(db, household_id),
        timeline=timeline, photos=photo_data.for_household(db, household_id),
        members=cells.responsible_members(db, household["cell_id"], rules.iso(rules.utcnow())),
        today=today, mask=rules.mask_phone, saved=request.args.get("saved"),
        conflicts=visits.conflicts_for_household(db, household_id) if current_user.role != "member" else [],
        outcome_labels=labels()["outcome"],
        register_history=register_view.history(db, household_id),
        questions=review.household_questions(db, current_user, household_id),
    )


@bp.route("/<int:household_id>/residents/<int:resident_id>/phone", methods=["POST"])
@login_required
def reveal_phone(household_id, resident_id):
    """Show one resident's full phone number, on a deliberate tap that is written to the audit log."""
    db = get_db()
    access.household_or_404(db, current_user, household_id)
    resident = households.resident(db, resident_id)
    if resident is None or resident["household_id"] != household_id:
        abort(404)
    audit.log(db, user_id=current_user.id, action="reveal_phone", target_type="resident",
              target_id=resident_id, ip=request.remote_addr)
    return render("households/_phone.html", "households/_phone.html", household_id=household_id,
                  resident=resident, revealed=True, mask=rules.mask_phone)
