"""Lighthouse 12.2.3 (npm, on the machine's Node 20) against Debian's chromium, mobile emulation: performance,
accessibility and best-practices scores of a member's "my households", the record-visit form and a leader's
map, with the biggest opportunities and failed audits of each page. Goal: at least 95 each.

    .venv/bin/python bench/lighthouse_bench.py [--database PATH] [--member NAME] [--leader leader1] [--runs 2] [--json]

Standalone it builds or reuses the 100,000-household demo (bench.common.big_database) unless --database names
another, and starts gunicorn with the repository's configuration (bench.server.Server). bench/run.py calls
measure(base_url, member, leader) with the URL of a server it runs itself.

Lighthouse is installed on first use into bench/node/ (npm install --prefix bench/node lighthouse@12.2.3).
Throttling is Lighthouse's default for mobile: simulated (Lantern; a slow-4G network and a 4x slower CPU
computed from one unthrottled load), so the performance score is an estimate and noisy on a shared machine:
each page is audited `runs` times and every run is reported. Without node, npm or chromium the result is
{"skipped": reason} and nothing fails, so that the other benchmarks still run.
"""
import argparse
import http.cookiejar
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CACHE, ROOT, big_database  # noqa: E402

LIGHTHOUSE_VERSION = "12.2.3"  # the last one that runs on Node 20 (13 needs Node 22)
NODE_PREFIX = ROOT / "bench" / "node"
LIGHTHOUSE_CLI = NODE_PREFIX / "node_modules" / "lighthouse" / "cli" / "index.js"
CHROMIUM = "/usr/bin/chromium"
# A closed network: without these chromium keeps trying Google's hosts (and as root it needs --no-sandbox).
CHROME_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CATEGORIES = ["performance", "accessibility", "best-practices"]
GOAL = 95
THROTTLING = "simulated (Lighthouse's default for mobile: slow 4G, 4x CPU slowdown, Moto G Power screen)"
REPORTS = CACHE / "lighthouse"  # each run's full JSON report, for a closer look
TOP = 5  # opportunities / failed audits kept per page
BUSY_INDEX = 1000  # below this Lighthouse benchmark index the machine was too busy for a fair performance score
METRICS = {"first-contentful-paint": "FCP", "largest-contentful-paint": "LCP", "total-blocking-time": "TBT",
           "cumulative-layout-shift": "CLS", "speed-index": "SI"}


class LighthouseError(RuntimeError):
    """Lighthouse could not audit the page that was meant (it failed, or audited the sign-in page)."""


# --- What the machine needs -----------------------------------------------------------------------------------

def missing_tools():
    """Why Lighthouse cannot run here (what is missing and how to install it on Debian), or None."""
    missing = []
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            missing.append(f"`{tool}` is not installed (on Debian: apt-get install nodejs npm)")
    if shutil.which("node"):
        version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        major = int(version.lstrip("v").split(".")[0] or 0) if version.lstrip("v")[:1].isdigit() else 0
        if major < 18:
            missing.append(f"node {version or '?'} is too old for Lighthouse {LIGHTHOUSE_VERSION} "
                           f"(needs 18.20 or newer; on Debian 12: apt-get install nodejs npm)")
    if not os.path.exists(CHROMIUM):
        missing.append(f"{CHROMIUM} is missing (on Debian: apt-get install chromium)")
    return "; ".join(missing) or None


def installed_version():
    """The version of Lighthouse in bench/node/, or None."""
    try:
        return json.loads((LIGHTHOUSE_CLI.parent.parent / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_lighthouse():
    """Install Lighthouse into bench/node/ unless that version is there; the reason it could not, or None."""
    if installed_version() == LIGHTHOUSE_VERSION:
        return None
    print(f"installing lighthouse@{LIGHTHOUSE_VERSION} into {NODE_PREFIX} ...", file=sys.stderr)
    NODE_PREFIX.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["npm", "install", "--prefix", str(NODE_PREFIX), "--no-audit", "--no-fund",
                           "--save-exact", f"lighthouse@{LIGHTHOUSE_VERSION}"],
                          capture_output=True, text=True)
    if done.returncode != 0 or installed_version() != LIGHTHOUSE_VERSION:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return f"npm could not install lighthouse@{LIGHTHOUSE_VERSION} into {NODE_PREFIX}: {' / '.join(tail)}"
    return None


# --- A signed-in session -----------------------------------------------------------------------------------------

def sign_in(base_url, username, password):
    """An opener holding a fresh signed-in session of username (through the real sign-in form)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base_url + "/auth/login", timeout=30) as answer:
        page = answer.read().decode()
    marker = 'name="csrf-token" content="'
    start = page.index(marker) + len(marker)
    token = page[start:page.index('"', start)]
    form = urllib.parse.urlencode({"username": username, "password": password, "csrf_token": token}).encode()
    try:
        with opener.open(base_url + "/auth/login", data=form, timeout=30) as answer:
            landed = urllib.parse.urlsplit(answer.geturl()).path
    except urllib.error.HTTPError as error:
        raise LighthouseError(f"sign-in of {username} failed: HTTP {error.code}") from None
    if landed.startswith("/auth/login"):
        raise LighthouseError(f"sign-in of {username} failed: still on the sign-in page")
    return opener, jar


def cookie_header(jar):
    """The Cookie header a browser would send with the jar's cookies."""
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def member_household(base_url, member, password):
    """A household id inside the member's scope: the first record-visit page of their offline manifest."""
    opener, _ = sign_in(base_url, member, password)
    with opener.open(base_url + "/api/offline-manifest", timeout=120) as answer:
        urls = json.load(answer)["urls"]
    for url in urls:
        parts = url.strip("/").split("/")
        if len(parts) == 4 and parts[0] == "households" and parts[2:] == ["visits", "new"]:
            return int(parts[1])
    raise LighthouseError(f"{member} has no household in scope (the offline manifest lists none)")


# --- One Lighthouse run -----------------------------------------------------------------------------------------

def lighthouse(url, cookie, report_path):
    """Run Lighthouse on url with the session cookie; the report (lhr) as a dict."""
    with tempfile.TemporaryDirectory(prefix="lighthouse-") as scratch:
        headers = Path(scratch) / "headers.json"  # a file, so that the cookie is not on a command line
        fd = os.open(headers, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"Cookie": cookie}, out)
        command = ["node", str(LIGHTHOUSE_CLI), url, "--output=json", f"--output-path={report_path}", "--quiet",
                   f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={' '.join(CHROME_FLAGS)}",
                   f"--extra-headers={headers}"]
        env = {**os.environ, "CHROME_PATH": CHROMIUM, "TMPDIR": scratch}
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise LighthouseError(f"Lighthouse did not finish {url} within 300 s") from None
    if done.returncode != 0 or not report_path.exists():
        tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise LighthouseError(f"Lighthouse failed on {url} (exit {done.returncode}): {tail}")
    lhr = json.loads(report_path.read_text())
    if lhr.get("runtimeError"):
        raise LighthouseError(f"Lighthouse could not load {url}: {lhr['runtimeError'].get('message')}")
    # A session the app no longer accepts means the sign-in page was audited instead: never report its scores.
    audited = lhr.get("finalDisplayedUrl") or lhr.get("finalUrl") or lhr.get("mainDocumentUrl") or ""
    wanted, got = urllib.parse.urlsplit(url).path, urllib.parse.urlsplit(audited).path
    if got.startswith("/auth/login"):
        raise LighthouseError(f"Lighthouse was sent to the sign-in page ({audited}) instead of {url}: "
                              f"the session cookie was not accepted")
    if got != wanted:
        raise LighthouseError(f"Lighthouse audited {audited} instead of {url}")
    return lhr


def summary(lhr):
    """Scores, metrics, the biggest performance opportunities and the failed audits of one report."""
    audits = lhr["audits"]
    scores = {name: None if lhr["categories"][name]["score"] is None
              else round(lhr["categories"][name]["score"] * 100) for name in CATEGORIES}
    metrics = {short: audits[key].get("displayValue", "") for key, short in METRICS.items() if key in audits}
    opportunities = []
    for ref in lhr["categories"]["performance"]["auditRefs"]:
        audit = audits[ref["id"]]
        # Metrics (scored or hidden, like Time to Interactive) are reported as metrics, not as opportunities.
        if ref.get("group") in ("metrics", "hidden") or audit.get("score") is None or audit["score"] >= 0.9:
            continue
        if audit.get("scoreDisplayMode") in ("informative", "manual", "notApplicable", "error"):
            continue
        details = audit.get("details") or {}
        saving_ms = details.get("overallSavingsMs") or max((audit.get("metricSavings") or {}).values(), default=0)
        opportunities.append({"id": ref["id"], "title": audit["title"], "savings_ms": round(saving_ms or 0),
                              "savings_bytes": round(details.get("overallSavingsBytes") or 0),
                              "display": audit.get("displayValue", "")})
    opportunities.sort(key=lambda item: (item["savings_ms"], item["savings_bytes"]), reverse=True)
    failed = []
    for name in ("accessibility", "best-practices"):
        for ref in lhr["categories"][name]["auditRefs"]:
            audit = audits[ref["id"]]
            if ref.get("weight", 0) > 0 and audit.get("score") is not None and audit["score"] < 1:
                failed.append({"category": name, "id": ref["id"], "title": audit["title"], "weight": ref["weight"],
                               "display": audit.get("displayValue", "")})
    failed.sort(key=lambda item: item["weight"], reverse=True)
    # How fast this machine was during the run (Lighthouse's own CPU benchmark, ~1,000+ on a quiet desktop):
    # simulated throttling multiplies the observed main-thread times, so a busy machine lowers performance.
    machine = {"benchmark_index": round(lhr.get("environment", {}).get("benchmarkIndex") or 0),
               "load_average": round(os.getloadavg()[0], 1)}
    # Lighthouse 12.2.3 predates the machine's chromium: a few trace-based diagnostics (render-blocking
    # resources, layout shifts, the LCP element) may fail to run; no scored audit should.
    errors = sorted(key for key, audit in audits.items() if audit.get("scoreDisplayMode") == "error")
    scored = {ref["id"] for name in CATEGORIES for ref in lhr["categories"][name]["auditRefs"] if ref.get("weight")}
    return {**scores, "metrics": metrics, "opportunities": opportunities[:TOP], "failed": failed[:TOP],
            "machine": machine, "audit_errors": errors, "scored_audit_errors": [key for key in errors if key in scored],
            "warnings": lhr.get("runWarnings", [])}


# --- The three pages ---------------------------------------------------------------------------------------------

def measure(base_url, member_username, leader_username, password="demo1234", runs=2):
    """Lighthouse scores of the three pages on a running server at base_url.

    {"pages": {name: {"performance": median, "accessibility": ..., "best-practices": ..., "runs": [per run],
    "metrics": ..., "opportunities": [...], "failed": [...]}}, "throttling": ..., "goal": 95}, or
    {"skipped": reason} when node, npm or chromium is missing or Lighthouse cannot be installed.
    Raises LighthouseError when a page cannot be audited (e.g. the session was refused).
    """
    reason = missing_tools() or ensure_lighthouse()
    if reason:
        print(f"lighthouse bench skipped: {reason}", file=sys.stderr)
        return {"skipped": reason}
    base_url = base_url.rstrip("/")
    household_id = member_household(base_url, member_username, password)
    pages = [("my households", member_username, "/households/"),
             ("record visit", member_username, f"/households/{household_id}/visits/new"),
             ("map", leader_username, "/map/")]
    REPORTS.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, username, path in pages:
        reports = []
        for run in range(runs):
            _, jar = sign_in(base_url, username, password)  # a fresh session per run: nothing left to expire
            report_path = REPORTS / f"{name.replace(' ', '-')}-{run + 1}.json"
            report_path.unlink(missing_ok=True)
            reports.append(summary(lighthouse(base_url + path, cookie_header(jar), report_path)))
            print(f"lighthouse {name} run {run + 1}: " + ", ".join(f"{c} {reports[-1][c]}" for c in CATEGORIES)
                  + f" (benchmark index {reports[-1]['machine']['benchmark_index']}, "
                  f"load {reports[-1]['machine']['load_average']})", file=sys.stderr)
        worst = min(reports, key=lambda report: report["performance"] or 0)  # the more telling run
        results[name] = {
            **{c: None if None in [r[c] for r in reports] else round(statistics.median(r[c] for r in reports))
               for c in CATEGORIES},
            "runs": [{c: r[c] for c in CATEGORIES} | {"metrics": r["metrics"], **r["machine"]} for r in reports],
            "url": path, "user": username, "metrics": worst["metrics"],
            "opportunities": worst["opportunities"], "failed": worst["failed"],
            "audit_errors": sorted({key for r in reports for key in r["audit_errors"]}),
            "scored_audit_errors": sorted({key for r in reports for key in r["scored_audit_errors"]}),
            "warnings": sorted({text for r in reports for text in r["warnings"]})}
    return {"pages": results, "throttling": THROTTLING, "goal": GOAL, "lighthouse": LIGHTHOUSE_VERSION,
            "cores": os.cpu_count(), "reports": str(REPORTS)}


def table(result):
    """The result as text: scores per page and run, then the top opportunities and failed audits."""
    if "skipped" in result:
        return f"Lighthouse: skipped: {result['skipped']}"
    lines = [f"Lighthouse {result['lighthouse']}, mobile, throttling {result['throttling']}; goal >= {result['goal']}",
             f"{'page':<14} {'performance':>16} {'accessibility':>16} {'best-practices':>16}   (median: run, run)"]
    for name, page in result["pages"].items():
        cells = []
        for category in CATEGORIES:
            per_run = ", ".join(str(run[category]) for run in page["runs"])
            flag = "" if (page[category] or 0) >= result["goal"] else " !"
            cells.append(f"{page[category]}{flag} ({per_run})")
        lines.append(f"{name:<14} " + " ".join(f"{cell:>16}" for cell in cells))
    for name, page in result["pages"].items():
        lines.append(f"\n{name} ({page['url']} as {page['user']}): "
                     + ", ".join(f"{k} {v}" for k, v in page["metrics"].items()))
        for item in page["opportunities"]:
            saving = ", ".join(part for part in (f"{item['savings_ms']} ms" if item["savings_ms"] else "",
                                                 f"{item['savings_bytes'] / 1024:.0f} KB" if item["savings_bytes"]
                                                 else "", item["display"]) if part)
            lines.append(f"  opportunity: {item['title']} ({saving or 'no estimate'})")
        for item in page["failed"]:
            lines.append(f"  failed {item['category']}: {item['title']} [{item['id']}]"
                         + (f" ({item['display']})" if item["display"] else ""))
        if not page["opportunities"] and not page["failed"]:
            lines.append("  nothing to improve that Lighthouse names")
        if page["scored_audit_errors"]:
            lines.append(f"  SCORED AUDITS THAT COULD NOT RUN (the score is not trustworthy): "
                         f"{', '.join(page['scored_audit_errors'])}")
        elif page["audit_errors"]:
            lines.append(f"  unscored diagnostics that could not run with this chromium: {', '.join(page['audit_errors'])}")
    runs = [run for page in result["pages"].values() for run in page["runs"]]
    slowest = min(run["benchmark_index"] for run in runs)
    busiest = max(run["load_average"] for run in runs)
    lines.append(f"\nmachine during the runs: Lighthouse benchmark index {slowest} at the slowest, load average up to "
                 f"{busiest} on {result['cores']} cores")
    if slowest < BUSY_INDEX or busiest > result["cores"]:
        lines.append("  the machine was busy: performance scores are lower than on a quiet machine (simulated "
                     "throttling multiplies the observed main-thread times); accessibility and best practices "
                     "do not depend on it")
    for text in sorted({text for page in result["pages"].values() for text in page["warnings"]}):
        lines.append(f"  Lighthouse warned: {' '.join(text.split())}")
    lines.append(f"full reports: {result['reports']}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="a demo database (default: the cached 100,000-household demo)")
    parser.add_argument("--member", help="default: the member with about 300 households")
    parser.add_argument("--leader", default="leader1")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the result as JSON as well")
    args = parser.parse_args()
    reason = missing_tools() or ensure_lighthouse()
    if reason:  # before building a database for nothing
        print(table({"skipped": reason}))
        return 0
    from bench.server import Server
    from bench.visit_loop_bench import member_near
    from fieldapp.data import db as database

    # Absolute: gunicorn runs in the repository's root, not necessarily where this was started.
    path = str(Path(args.database).resolve()) if args.database else big_database()
    member = args.member or member_near(database.connect(path))[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    server = Server(path, workers=2, threads=4, log_path=str(CACHE / "lighthouse-gunicorn.log"))
    server.start()
    try:
        result = measure(server.url, member, args.leader, runs=args.runs)
    finally:
        server.stop()
    print(table(result))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
