"""Reminders to the grids' work groups through their group robots (企业微信, 钉钉, 飞书), sent with apprise: each grid's
daily digest at its hour, an alert when requests are overdue, and the admin's test message.

Messages carry counts and addresses at most, never names, phones or tags. The webhook is a secret: it reaches
apprise and nothing else (no log line, no error text, no page shows it whole). Every message is claimed in
reminder_log before it is sent, so a digest goes out once per grid and day however often the command runs; each
attempt is recorded there, and a message that failed every attempt is tried again by the next run.
"""
import logging
import re
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import apprise
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from fieldapp import rules
from fieldapp.data import reminders

log = logging.getLogger(__name__)

ATTEMPTS = 3
# The robots' own webhook addresses, and the apprise schema each one's key or token goes to.
_NATIVE = {
    "wecom": (re.compile(r"^https://qyapi\.weixin\.qq\.com/cgi-bin/webhook/send\?key=([\w-]+)$"), "wecombot://{}"),
    "dingtalk": (re.compile(r"^https://oapi\.dingtalk\.com/robot/send\?access_token=([\w-]+)$"), "dingtalk://{}/"),
    "feishu": (re.compile(r"^https://open\.(?:feishu\.cn|larksuite\.com)/open-apis/bot/v2/hook/([\w-]+)/?$"),
               "feishu://{}/"),
}
_TOKEN = re.compile(r"^[\w-]{8,200}$")


def apprise_url(kind, target):
    """The apprise URL of a robot: a key or token alone, or the robot's own webhook address, goes to its apprise
    schema; any other http(s) address (a relay of the organisation's own) to apprise's generic JSON POST."""
    target = target.strip()
    if _TOKEN.match(target):
        return _NATIVE[kind][1].format(target)
    for other_pattern, other_schema in _NATIVE.values():
        found = other_pattern.match(target)
        if found:
            return other_schema.format(found.group(1))
    parts = urlsplit(target)
    # apprise's json:// passes a query parameter on when its name is prefixed with "-".
    query = urlencode([("-" + key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True)])
    schema = "jsons" if parts.scheme == "https" else "json"
    return f"{schema}://{parts.netloc}{parts.path}{'?' + query if query else ''}"


def target_problem(kind, target):
    """Why target is no webhook of a kind robot (translated), or None: a key or token, or an http(s) address."""
    target = (target or "").strip()
    if _TOKEN.match(target):
        return None
    try:
        parts = urlsplit(target)
        readable = parts.scheme in ("http", "https") and parts.hostname and len(target) <= 1000
    except ValueError:  # an address urllib cannot read ("http://[x")
        readable = False
    if not readable:
        return _("Paste the robot's webhook address (https://…) or its key.")
    for other, (pattern, _schema) in _NATIVE.items():
        if other != kind and pattern.match(target):
            return _("This is the webhook of another kind of robot: choose its kind.")
    return None


def masked(target):
    """A stored webhook as a page may show it: its last four characters."""
    return "••••" + target.strip()[-4:] if target else ""


def _secret_parts(target):
    """The pieces of target no error text may hold: the whole of it, its path and query, its key or token."""
    target = target.strip()
    parts = urlsplit(target)
    pieces = {target, parts.path, parts.query, *re.findall(r"[\w-]{8,}", parts.path + "?" + parts.query)}
    return sorted((piece for piece in pieces if len(piece) >= 4), key=len, reverse=True)


def _without_secret(text, target):
    """text with every piece of the webhook's secret replaced by ***."""
    for piece in _secret_parts(target):
        text = text.replace(piece, "***")
    return text


def scrubbed(text, target):
    """Captured log text as an error to keep: without the secret, in one line of at most 300 characters."""
    lines = [re.sub(r"^[\d\- :,]+- (WARNING|ERROR) - ", "", line)
             for line in _without_secret(text, target).splitlines()]
    return " ".join(line for line in lines if line.strip())[:300]


class _Scrub(logging.Filter):
    """Rewrites a log record of apprise or urllib3 (which name the URL at debug level) without the webhook's secret."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    def filter(self, record):
        text = record.getMessage()
        clean = _without_secret(text, self.target)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


# The loggers that may name a webhook's URL while it is sent.
_NAMING_LOGGERS = ("apprise", "urllib3.connectionpool")


def deliver(kind, target, body):
    """Send body once to the robot: (delivered, error text without the secret, or None)."""
    scrub = _Scrub(target)
    for name in _NAMING_LOGGERS:
        logging.getLogger(name).addFilter(scrub)
    try:
        notifier = apprise.Apprise()
        if not notifier.add(apprise_url(kind, target)):
            return False, "the webhook address is not one apprise can send to"
        with apprise.LogCapture(level=logging.WARNING) as captured:
            delivered = notifier.notify(body=body, title="")
        problem = captured.getvalue()
    except Exception as error:  # a plugin that raises: logged as any failure, the command goes on
        delivered, problem = False, f"{type(error).__name__}: {error}"
    finally:
        for name in _NAMING_LOGGERS:
            logging.getLogger(name).removeFilter(scrub)
    return bool(delivered), None if delivered else (scrubbed(problem, target) or "not delivered")


def send(db, robot, message, day, body, attempts=ATTEMPTS):
    """Send one message of robot's grid for day, once: "sent", "failed" (every attempt logged) or "skipped" (sent
    already, or being sent by another run)."""
    log_id = reminders.claim(db, robot["grid_id"], message, day, rules.iso(rules.utcnow()))
    if log_id is None:
        return "skipped"
    pause = current_app.config["REMIND_BACKOFF_SECONDS"]
    for attempt in range(1, attempts + 1):
        delivered, error = deliver(robot["kind"], robot["target"], body)
        reminders.attempted(db, log_id, ok=delivered, error=error, at=rules.iso(rules.utcnow()))
        log.info("reminder grid=%s message=%s day=%s attempt=%d %s%s", robot["grid_id"], message, day, attempt,
                 "sent" if delivered else "failed", "" if delivered else f": {error}")
        if delivered:
            return "sent"
        if attempt < attempts:
            time.sleep(pause * 2 ** (attempt - 1))
    reminders.given_up(db, log_id)
    return "failed"


def digest_text(grid_name, day, figures):
    """The daily digest: counts only."""
    lines = [_("[Zero Distance] %(grid)s, daily reminder %(day)s", grid=grid_name, day=day),
             _("Households due for a visit: %(due)d (contacted this cycle: %(contacted)d of %(households)d)",
               due=figures["due"], contacted=figures["contacted"], households=figures["households"]),
             _("Open requests: %(open)d, of them overdue: %(overdue)d", open=figures["open"],
               overdue=figures["overdue"]),
             _("Return visits due: %(n)d", n=figures["return_visits"])]
    return "\n".join(lines)


def overdue_text(grid_name, day, figures):
    """The overdue alert: the count and the addresses of the overdue requests."""
    lines = [_("[Zero Distance] %(grid)s, %(day)s: %(n)d request(s) overdue", grid=grid_name, day=day,
               n=figures["overdue"]), *figures["overdue_addresses"]]
    if figures["more_addresses"]:
        lines.append(_("and %(n)d more places", n=figures["more_addresses"]))
    return "\n".join(lines)


def text_of_test(grid_name):
    """The admin's test message."""
    return _("[Zero Distance] %(grid)s: test message. The group robot is set up.", grid=grid_name)


def run(db, clock, *, now=None, force=False, echo=None):
    """Send every enabled robot's digest (at or after its hour, or at once with force) and overdue alert for
    today, each once; returns {"sent", "failed", "skipped", "waiting"} counts of messages and grids."""
    moment = now or rules.utcnow()
    local = moment.astimezone(rules.clock_zone(clock))
    day = local.date().isoformat()
    clock = {**clock, "today": day}
    summary = {"sent": 0, "failed": 0, "skipped": 0, "waiting": 0}
    with force_locale("zh"):
        for robot in reminders.enabled_robots(db):
            if not force and local.hour < robot["digest_hour"]:
                summary["waiting"] += 1
                continue
            figures = reminders.digest_figures(db, clock, robot["grid_id"])
            outcomes = [send(db, robot, "digest", day, digest_text(robot["grid_name"], day, figures))]
            if figures["overdue"]:
                outcomes.append(send(db, robot, "overdue", day, overdue_text(robot["grid_name"], day, figures)))
            for outcome in outcomes:
                summary[outcome] += 1
            if echo:
                echo(f"{robot['grid_name']}: {', '.join(outcomes)}")
    return summary
