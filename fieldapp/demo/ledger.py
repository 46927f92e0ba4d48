"""The demo's ledger: the requests raised on visits, taken through the ledger as far as the days since allow."""
import json
from datetime import timedelta

from fieldapp import rules
from fieldapp.demo.history import uuid4
from fieldapp.demo.words import CATEGORY_WEIGHTS, PROGRESS_NOTES, REFERRAL_LABELS, REQUEST_TEXTS


def requests(rng, raised, categories, today, first_id):
    """The ledger: a request for each raising visit, taken as far as the days since allow, with its events."""
    limit = rules.parse_iso(rules.local_midnight_utc(today))  # nothing happens today or later
    codes = sorted(CATEGORY_WEIGHTS)
    requests, events = [], []
    for request_id, (home, visit_id, user_id, d, created_at, plan) in enumerate(raised, start=first_id):
        category = ("housing" if plan == "open_request" else "medical" if plan == "overdue_request" else
                    rng.choices(codes, [CATEGORY_WEIGHTS[code] for code in codes])[0])
        descriptions, resolutions, referrals = REQUEST_TEXTS[category]
        due_days = categories[category]
        due_date = rules.request_due_date(today - timedelta(days=d), due_days)
        if plan == "open_request":
            target = "open"
        elif plan == "overdue_request":
            target = "in_progress"
        elif d <= due_days:  # still within its time limit
            target = rng.choices(rules.REQUEST_STATUSES, (35, 35, 20, 10))[0]
        else:  # mostly answered by now; the rest is overdue and names its responsible member
            target = rng.choices(rules.REQUEST_STATUSES, (6, 9, 20, 65))[0]
        referral = rng.choice(referrals) if rng.random() < 0.15 else None
        steps = _request_steps(rng, target, referral, resolutions, due_days)
        moment = rules.parse_iso(created_at)
        # The member who raised a request is responsible for it and takes every step.
        history = [(request_id, user_id, created_at, "created", None, "open", None, visit_id, "{}")]
        status, resolution, referred = "open", None, None
        for hours, kind, to_status, note, data in steps:
            moment += timedelta(hours=hours)
            if moment >= limit:
                break
            history.append((request_id, user_id, rules.iso(moment), kind, status if to_status else None, to_status,
                            note, None, json.dumps(data, ensure_ascii=False)))
            status = to_status or status
            resolution = note if kind == "resolved" else None if to_status == "open" else resolution
            referred = data.get("referral", referred)
        events.extend(history)
        requests.append((request_id, uuid4(rng), home["id"], visit_id,
                         category, rng.choice(descriptions), status, user_id, due_date.isoformat(), referred,
                         resolution, user_id, created_at, history[-1][2], len(history), "visit"))
    return requests, events


def _request_steps(rng, target, referral, resolutions, due_days):
    """The planned steps of a request up to target: (hours after the previous, kind, to_status, note, data)."""
    if target == "open":
        return []
    steps = [(rng.uniform(2, 30), "status", "in_progress", "已受理，正在协调", {})]
    if referral:
        steps.append((rng.uniform(1, 24), "progress", None, f"已转介{REFERRAL_LABELS[referral]}",
                      {"referral": referral}))
    if rng.random() < 0.5:
        steps.append((rng.uniform(4, 48), "progress", None, rng.choice(PROGRESS_NOTES), {}))
    if target == "in_progress":
        return steps
    steps.append((rng.uniform(0.3, 1.0) * due_days * 24, "resolved", "resolved", rng.choice(resolutions), {}))
    satisfied = rng.random() < 0.93
    steps.append((rng.uniform(24, 120), "return_visit", None, None, {"satisfied": satisfied}))
    if not satisfied:  # the resident is not satisfied: the request opens again
        steps.append((0.2, "status", "open", "居民不满意，重新办理", {}))
    elif target == "closed":
        steps.append((0.2, "closed", "closed", None, {}))
    return steps
