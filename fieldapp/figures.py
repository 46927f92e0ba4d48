"""The numbers of the leader's charts and of the monthly report (月度工作报告), computed once for the page, the
PDF and the Excel file alike: weeks and months as spans of local days, each chart with the table of its numbers."""
import math
from datetime import date, timedelta

from flask_babel import gettext as _, lazy_gettext as _l

from fieldapp import charts, rules
from fieldapp.data import charts as chart_data
from fieldapp.i18n import labels

WEEKS = 26  # the weekly charts' half year
MONTHS = 12  # the monthly charts' year
OVERDUE_PEOPLE = 5  # lines of the overdue chart: the people with the most overdue requests (all in the table)
TOP_BUILDINGS = 10  # the report's most frequent issues by building
OVERDUE_SHOWN = 100  # overdue requests listed on the report's page and PDF (the Excel file has them all)

CHANNELS = {"visit": _l("At a visit"), "phone": _l("By phone"), "walk_in": _l("In person at the office"),
            "other": _l("Other channel"), "resident": _l("Resident's own report"), "hotline": _l("Hotline (12345)")}


class BadMonth(ValueError):
    """A month the report cannot cover; its message says why, translated."""


def week_spans(today, count=WEEKS):
    """The count weeks (Monday to Sunday) up to the current one, which ends today."""
    monday = today - timedelta(days=today.weekday())
    starts = [monday - timedelta(weeks=n) for n in range(count - 1, -1, -1)]
    return [(start, min(start + timedelta(days=6), today)) for start in starts]


def month_spans(today, count=MONTHS):
    """The count calendar months up to the current one, which ends today."""
    spans = []
    for n in range(count - 1, -1, -1):
        month = rules.add_months(today.replace(day=1), -n)
        first, last = rules.month_period(month.year, month.month)
        spans.append((first, min(last, today)))
    return spans


def weeks_of(first, last):
    """A month's days in spans of seven (the last one shorter): its weekly chart."""
    spans, start = [], first
    while start <= last:
        spans.append((start, min(start + timedelta(days=6), last)))
        start += timedelta(days=7)
    return spans


def percent(part, whole):
    """part of whole as a percentage with one decimal, or None when whole is 0."""
    return round(part * 100 / whole, 1) if whole else None


def percentile(values, share):
    """The share-th quantile (0-1) of values, linearly interpolated between the closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * share
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _week_label(span):
    return span[0].strftime("%m-%d")


def _month_label(span):
    return span[0].strftime("%Y-%m")


def coverage_chart(db, clock, spans, cell_ids, label=_week_label):
    """Contacted and attempted households per span, as shares of the households then."""
    found = chart_data.coverage_per_span(db, clock, spans, cell_ids)
    names = [label(span) for span in spans]
    table = [[name, r["households"], r["contacted"], r["attempted"], percent(r["contacted"], r["households"]),
              percent(r["attempted"], r["households"])] for name, r in zip(names, found)]
    title = _("Coverage per week")
    svg = charts.line(title, names, [(_("Contacted"), [row[4] for row in table]),
                                     (_("Attempted, not reached"), [row[5] for row in table])], percent=True)
    return charts.chart("coverage", title, svg, [_("Week from"), _("Households"), _("Contacted"),
                                                  _("Attempted, not reached"), _("Contacted share"),
                                                  _("Attempted share")], table)


def vulnerable_chart(db, clock, spans, cell_ids, label=_week_label):
    """Households with a vulnerable-group tag visited within their own cycle at the end of each span."""
    found = chart_data.vulnerable_per_span(db, clock, spans, cell_ids)
    names = [label(span) for span in spans]
    table = [[name, r["households"], r["visited"], percent(r["visited"], r["households"])]
             for name, r in zip(names, found)]
    title = _("Vulnerable households visited in their cycle")
    svg = charts.line(title, names, [(_("Visited in their cycle"), [row[3] for row in table])], percent=True)
    return charts.chart("vulnerable", title, svg, [_("Week from"), _("Households"), _("Visited in their cycle"),
                                                    _("Share")], table)


def request_charts(db, clock, spans, cell_ids):
    """Requests raised and resolved per month: in all, by category and by channel."""
    found = chart_data.requests_per_span(db, clock, spans, cell_ids)
    names = [_month_label(span) for span in spans]
    words = labels()
    made = []
    for key, title, group, known in (
            ("category", _("Requests per month by category"), "category", words["category"]),
            ("channel", _("Requests per month by channel"), "channel", {k: str(v) for k, v in CHANNELS.items()})):
        raised = {(r["i"], r[group]): 0 for r in found["raised"]}
        resolved = {}
        for r in found["raised"]:
            raised[(r["i"], r[group])] += r["n"]
        for r in found["resolved"]:
            resolved[(r["i"], r[group])] = resolved.get((r["i"], r[group]), 0) + r["n"]
        codes = [code for code in known if any(code == c for _i, c in (*raised, *resolved))]
        series = [(known[code], [raised.get((i, code), 0) for i in range(len(spans))]) for code in codes]
        table = [[names[i], known[code], raised.get((i, code), 0), resolved.get((i, code), 0)]
                 for i in range(len(spans)) for code in codes if raised.get((i, code)) or resolved.get((i, code))]
        made.append(charts.chart(f"requests_{key}", title, charts.bars(title, names, series, stacked=True),
                                 [_("Month"), _("Category") if key == "category" else _("Channel"), _("Raised"),
                                  _("Resolved")], table))
    totals = [[names[i], sum(r["n"] for r in found["raised"] if r["i"] == i),
               sum(r["n"] for r in found["resolved"] if r["i"] == i)] for i in range(len(spans))]
    title = _("Requests raised and resolved per month")
    svg = charts.bars(title, names, [(_("Raised"), [t[1] for t in totals]), (_("Resolved"), [t[2] for t in totals])])
    return [charts.chart("requests", title, svg, [_("Month"), _("Raised"), _("Resolved")], totals), *made]


def resolution_rows(db, clock, first, last, cell_ids):
    """Per category: requests first resolved from first to last, the median and 90th percentile of the days it
    took (from raised to first resolved) and the share resolved by the due date."""
    zone = rules.clock_zone(clock)
    by_category = {}
    for r in chart_data.resolutions(db, clock, first, last, cell_ids):
        took = (rules.parse_iso(r["resolved_at"]) - rules.parse_iso(r["created_at"])).total_seconds() / 86400
        in_time = rules.local_date(r["resolved_at"], zone).isoformat() <= r["due_date"]
        by_category.setdefault(r["category"], []).append((took, in_time))
    words = labels()["category"]
    return [[words.get(code, code), len(found), round(percentile([t for t, _ok in found], 0.5), 1),
             round(percentile([t for t, _ok in found], 0.9), 1), percent(sum(ok for _t, ok in found), len(found))]
            for code, found in sorted(by_category.items(), key=lambda item: -len(item[1]))]


def resolution_chart(db, clock, first, last, cell_ids):
    """Time to resolve per category (median, 90th percentile) and the share resolved in time."""
    table = resolution_rows(db, clock, first, last, cell_ids)
    title = _("Time to resolve per category")
    svg = charts.sideways(title, [row[0] for row in table], [(_("Median days"), [row[2] for row in table]),
                                                             (_("90th percentile days"), [row[3] for row in table])])
    return charts.chart("resolution", title, svg, [_("Category"), _("Resolved"), _("Median days"),
                                                    _("90th percentile days"), _("Resolved in time")], table)


def satisfaction_chart(db, clock, spans, cell_ids, label=_month_label):
    """Return visits per span, satisfied and not, and the residents' own ratings."""
    visits = chart_data.return_visits_per_span(db, clock, spans, cell_ids)
    ratings = chart_data.resident_ratings_per_span(db, clock, spans, cell_ids)
    names = [label(span) for span in spans]
    table = [[name, v["satisfied"], v["not_satisfied"], percent(v["satisfied"], v["satisfied"] + v["not_satisfied"]),
              r["satisfied"], r["not_satisfied"], percent(r["satisfied"], r["satisfied"] + r["not_satisfied"])]
             for name, v, r in zip(names, visits, ratings)]
    title = _("Satisfaction of return visits")
    svg = charts.bars(title, names, [(_("Satisfied"), [row[1] for row in table]),
                                     (_("Not satisfied"), [row[2] for row in table]),
                                     (_("Residents satisfied"), [row[4] for row in table]),
                                     (_("Residents not satisfied"), [row[5] for row in table])])
    return charts.chart("satisfaction", title, svg, [_("Month"), _("Satisfied"), _("Not satisfied"),
                                                      _("Satisfied share"), _("Residents satisfied"),
                                                      _("Residents not satisfied"), _("Residents' satisfied share")],
                        table)


def overdue_chart(db, clock, spans, cell_ids):
    """Overdue requests at the end of each month per responsible person (the most at the last month's end)."""
    found = chart_data.overdue_per_span(db, clock, spans, cell_ids)
    names = [_month_label(span) for span in spans]
    nobody = _("Nobody responsible")
    people = {}
    for r in found:
        people.setdefault(r["user_id"], {"name": r["name"] or nobody, "n": [0] * len(spans)})["n"][r["i"]] = r["n"]
    ranked = sorted(people.values(), key=lambda p: (-p["n"][-1], -sum(p["n"]), p["name"]))
    title = _("Overdue requests by responsible person")
    svg = charts.line(title, names, [(p["name"], p["n"]) for p in ranked[:OVERDUE_PEOPLE]])
    table = [[names[i], p["name"], p["n"][i]] for i in range(len(spans)) for p in ranked if p["n"][i]]
    return charts.chart("overdue", title, svg, [_("Month end"), _("Responsible"), _("Overdue")], table)


def dashboard(db, clock, cell_ids):
    """The leader's charts of cell_ids (None: the community): the last 26 weeks and 12 months."""
    today = date.fromisoformat(clock["today"])
    weeks, months = week_spans(today), month_spans(today)
    return [coverage_chart(db, clock, weeks, cell_ids), vulnerable_chart(db, clock, weeks, cell_ids),
            *request_charts(db, clock, months, cell_ids),
            resolution_chart(db, clock, months[0][0], today, cell_ids),
            satisfaction_chart(db, clock, months, cell_ids), overdue_chart(db, clock, months, cell_ids)]


def report_month(db, clock, raw):
    """The month (first and last day: today for the current one) that raw (YYYY-MM) names; BadMonth otherwise."""
    today = date.fromisoformat(clock["today"])
    try:
        year, month = (int(part) for part in (raw or "").strip().split("-"))
        first, last = rules.month_period(year, month)
    except (ValueError, OverflowError):
        raise BadMonth(_("Month: give it as YYYY-MM, for example %(month)s.", month=today.strftime("%Y-%m"))) from None
    if first > today:
        raise BadMonth(_("Month: %(month)s has not begun; nothing is known yet.", month=first.strftime("%Y-%m")))
    began = chart_data.data_began(db)
    began_day = rules.local_date(began, rules.clock_zone(clock)) if began else today
    if last < began_day.replace(day=1) or first < rules.EARLIEST_DAY:
        raise BadMonth(_("Month: the records begin in %(month)s; choose that month or a later one.",
                         month=began_day.strftime("%Y-%m")))
    return first, min(last, today)


def default_month(db, clock):
    """The month a report opens on: the last one, or the current one while the records are younger."""
    today = date.fromisoformat(clock["today"])
    last_month = rules.add_months(today.replace(day=1), -1).strftime("%Y-%m")
    try:
        report_month(db, clock, last_month)
        return last_month
    except BadMonth:
        return today.strftime("%Y-%m")


def monthly(db, clock, first, last, cell_ids, checklist):
    """Every figure of the monthly report of cell_ids from first to last; checklist(period) gives the coverage
    checklist's totals of a period (households, visited, attempted), so the report says what that page says."""
    words = labels()
    period = {"kind": "month", "start": first, "end": last, "key": first.strftime("%Y-%m")}
    coverage = checklist(period)
    vulnerable = chart_data.vulnerable_in_period(db, clock, period, cell_ids)
    raised = chart_data.raised_in(db, clock, first, last, cell_ids)

    def grouped(key, names):
        counted = {}
        for r in raised:
            counted[r[key]] = counted.get(r[key], 0) + r["n"]
        return [[names.get(code, code), counted[code]] for code in names if code in counted]

    overdue = chart_data.overdue_list(db, clock, last, cell_ids)
    channels = {k: str(v) for k, v in CHANNELS.items()}
    month_span = [(first, last)]
    figures = {
        "month": period["key"], "first": first, "last": last,
        "coverage": {**coverage, "contacted_percent": percent(coverage["visited"], coverage["households"]),
                     "attempted_percent": percent(coverage["attempted"], coverage["households"])},
        "vulnerable": {**vulnerable, "percent": percent(vulnerable["visited"], vulnerable["households"])},
        "raised": sum(r["n"] for r in raised),
        "by_channel": grouped("channel", channels), "by_category": grouped("category", words["category"]),
        "by_status": grouped("status", words["request_status"]),
        "overdue": [{**r, "category": words["category"].get(r["category"], r["category"]),
                     "responsible": r["responsible"] or _("Nobody responsible")} for r in overdue],
        "referrals": [{**r, "platform": words["referral"].get(r["platform"], r["platform"])}
                      for r in chart_data.referral_answers(db, clock, first, last, cell_ids)],
        "buildings": [{**r, "category": words["category"].get(r["category"], r["category"])}
                      for r in chart_data.frequent_by_building(db, clock, first, last, cell_ids, TOP_BUILDINGS)],
        "resolution": resolution_rows(db, clock, first, last, cell_ids),
        "satisfaction": chart_data.return_visits_per_span(db, clock, month_span, cell_ids)[0],
    }
    by_category = chart_data.requests_per_span(db, clock, month_span, cell_ids)
    resolved = {}
    for r in by_category["resolved"]:
        resolved[r["category"]] = resolved.get(r["category"], 0) + r["n"]
    raised_by = {c: sum(r["n"] for r in raised if r["category"] == c) for c in words["category"]}
    codes = [c for c in words["category"] if raised_by.get(c) or resolved.get(c)]
    title = _("Requests by category")
    category_chart = charts.chart(
        "month_requests", title, charts.bars(title, [words["category"][c] for c in codes],
                                             [(_("Raised"), [raised_by.get(c, 0) for c in codes]),
                                              (_("Resolved"), [resolved.get(c, 0) for c in codes])]),
        [_("Category"), _("Raised"), _("Resolved")],
        [[words["category"][c], raised_by.get(c, 0), resolved.get(c, 0)] for c in codes])
    figures["charts"] = [coverage_chart(db, clock, weeks_of(first, last), cell_ids),
                         vulnerable_chart(db, clock, weeks_of(first, last), cell_ids), category_chart]
    return figures


def recent_report_months(db, clock, count=24):
    """The months a report can cover, newest first: from the current one back to the records' first (at most
    count)."""
    today = date.fromisoformat(clock["today"])
    began = chart_data.data_began(db)
    first = rules.local_date(began, rules.clock_zone(clock)).replace(day=1) if began else today.replace(day=1)
    months = []
    for key in rules.recent_months(today, count):
        if date.fromisoformat(f"{key}-01") < first:
            break
        months.append(key)
    return months
