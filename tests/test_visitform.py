"""The visit's checks as the form and the sync API share them: position, follow-ups, new requests, amendments."""
from datetime import datetime, timezone

import pytest
from werkzeug.datastructures import MultiDict

from fieldapp import visitform

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
VISIT_UUID = "0b1c6f8e-9a87-4e2b-8d55-3f1fe4b7e3a1"
HOUSEHOLD = {"id": 5, "point_lon": 120.1, "point_lat": 30.28}
CATEGORIES = [{"code": "medical", "due_days": 7}]
CONFIG = {"LOCATION_MAX_DISTANCE_M": 150, "LOCATION_MAX_ACCURACY_M": 100}


@pytest.fixture
def parse(app):
    """parse_visit of form fields (a dict) for HOUSEHOLD, with open_requests, in English."""
    def run(fields, open_requests=()):
        with app.test_request_context("/?lang=en"):
            return visitform.parse_visit(MultiDict({"uuid": VISIT_UUID, "outcome": "met", **fields}),
                                         household=HOUSEHOLD, residents=[], open_requests=list(open_requests),
                                         categories=CATEGORIES, now=NOW, user_id=3, config=CONFIG)
    return run


@pytest.mark.parametrize("name", sorted(visitform.RANGES))
def test_a_position_past_its_range_is_refused_and_dropped(parse, name):
    low, high = visitform.RANGES[name]
    inside = {"lat": "30.28", "lon": "120.1", "accuracy": "10"}
    visit, _requests, _followups, errors = parse({**inside, name: str(high)})
    assert "location" not in errors
    visit, _requests, _followups, errors = parse({**inside, name: str(high + 1)})
    assert "out of range" in errors["location"]
    assert visit["lat"] is None and visit["location_flag"] == "no_location"
    assert visit["no_location_reason"] == "unavailable"


@pytest.mark.parametrize("status, action, note, error", [
    ("open", "confirm", "", "followup_9"),  # only a resolved request has a return visit
    ("resolved", "progress", "已联系", "followup_9"),
    ("resolved", "reopen", "", "followup_note_9"),  # not satisfied: say with what
    ("open", "resolve", "", "followup_note_9"),
])
def test_a_follow_up_fits_the_requests_status(parse, status, action, note, error):
    _visit, _requests, followups, errors = parse({"followup_9": action, "followup_note_9": note},
                                                 [{"id": 9, "status": status}])
    assert followups == [] and error in errors


def test_a_satisfied_return_visit_needs_no_note(parse):
    _visit, _requests, followups, errors = parse({"followup_9": "confirm"}, [{"id": 9, "status": "resolved"}])
    assert errors == {} and followups == [{"request_id": 9, "action": "confirm", "note": None}]


def test_a_new_request_without_a_uuid_gets_the_same_one_at_every_resend(parse):
    fields = {"new_uuid": "", "new_category": "medical", "new_description": "需要家庭医生上门"}
    first, second = parse(fields)[1], parse(fields)[1]
    assert first[0]["uuid"] == second[0]["uuid"]
    assert first[0]["due_date"] == "2026-03-08"  # the category's 7 days from the visit's day in Shanghai


def test_a_sync_item_reads_as_the_form_it_stands_for():
    item = {"uuid": VISIT_UUID, "household_id": 5, "outcome": "met", "lat": 30.28, "residents_met": [4],
            "new_requests": [{"category": "medical", "description": "腿疼"}],
            "followups": [{"request_id": 9, "action": "progress", "note": "已联系"}]}
    form = visitform.item_as_form(item)
    assert form.to_dict(flat=False) == {
        "uuid": [VISIT_UUID], "lat": ["30.28"], "outcome": ["met"], "residents_met": ["4"],
        "new_uuid": [""], "new_category": ["medical"], "new_description": ["腿疼"],
        "followup_9": ["progress"], "followup_note_9": ["已联系"]}
    digest = visitform.payload_digest(form, 5)
    form.add("csrf_token", "a fresh token")  # a resend carries another token: still the same visit
    assert visitform.payload_digest(form, 5) == digest
    assert visitform.payload_digest(form, 6) != digest


@pytest.mark.parametrize("name", visitform.LISTS)
def test_a_list_that_is_not_a_list_is_refused_by_name(name):
    with pytest.raises(ValueError, match=name):
        visitform.item_as_form({"uuid": VISIT_UUID, name: 5})


def test_an_amendment_keeps_only_what_changed(app):
    visit = {"outcome": "met", "notes": "老人在家"}
    with app.test_request_context("/?lang=en"):
        same = visitform.parse_amendment(MultiDict({"reason": "补充", "outcome": "met", "notes": " 老人在家 "}), visit)
        changed = visitform.parse_amendment(MultiDict({"reason": "记错了", "outcome": "nobody_home",
                                                       "notes": "无人应门"}), visit)
        refused = visitform.parse_amendment(MultiDict({"reason": " ", "outcome": "away"}), visit)
    assert same == ("补充", None, None, {})
    assert changed == ("记错了", "nobody_home", "无人应门", {})
    assert set(refused[3]) == {"reason", "outcome"}
