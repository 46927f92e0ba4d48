"""An outside judge: axe-core on every main page, in Chinese and English, on a phone and a desktop,
finds no serious or critical accessibility violation."""
import pytest

from fieldapp.data import db as database
from tests.browser.conftest import sign_in

# The markup and its contrast are the same whichever engine holds the data: judged once, on SQLite.
pytestmark = pytest.mark.one_engine

# Vendored for this test only (`make vendor`); served from our own origin, so the page's strict CSP
# (script-src 'self', no inline scripts) lets it in and the pages are judged with their real CSP on.
AXE = "/static/vendor/axe-core-4.14.1.min.js"
# WCAG 2.0-2.2 A and AA, and axe's best practices; only serious and critical findings fail the test.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]
FAILING = ("serious", "critical")

SETTINGS = [("zh", "phone"), ("zh", "desktop"), ("en", "phone"), ("en", "desktop")]
# (page, who looks at it, path); grouped by person so that each setting signs in only three times.
PAGES = [
    ("sign-in", None, "/auth/login"),
    ("my households", "member1", "/households/"),
    ("household", "member1", "/households/{household}"),
    ("record visit", "member1", "/households/{household}/visits/new"),
    ("map", "leader1", "/map/"),
    ("coverage", "leader1", "/coverage/"),
    ("ledger", "leader1", "/ledger/"),
    ("request", "leader1", "/ledger/{request}"),
    ("import", "admin", "/admin/import"),
]

RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), impact: n.impact, summary: n.failureSummary})),
  }));
}"""


@pytest.fixture(scope="module")
def examples(live_server):
    """The household of member1's cells with the most requests and visits, and the request in progress of
    leader1's grid with the longest history: the pages with the most on them."""
    db = live_server.db()
    household = database.scalar(db, """
        SELECT h.id FROM households h JOIN assignments a ON a.cell_id = h.cell_id AND a.valid_to IS NULL
        JOIN users u ON u.id = a.user_id AND u.username = 'member1'
        ORDER BY (SELECT count(*) FROM requests r WHERE r.household_id = h.id) DESC,
                 (SELECT count(*) FROM visits v WHERE v.household_id = h.id) DESC, h.id LIMIT 1""")
    request = database.scalar(db, """
        SELECT r.id FROM requests r JOIN households h ON h.id = r.household_id JOIN cells c ON c.id = h.cell_id
        WHERE c.grid_id = (SELECT grid_id FROM users WHERE username = 'leader1') AND r.status = 'in_progress'
        ORDER BY (SELECT count(*) FROM request_events e WHERE e.request_id = r.id) DESC, r.id LIMIT 1""")
    db.close()
    assert household and request, "the demo community has no household of member1 or no request in progress"
    return {"household": household, "request": request}


class Visitor:
    """One browser context per (language, viewport); signs in as whoever the next page needs."""

    def __init__(self, context, lang):
        self.context = context
        self.page = context.new_page()
        self.lang = lang
        self.username = None

    def become(self, username):
        """Be signed in as username (None: signed out)."""
        if username == self.username:
            return
        self.context.clear_cookies()
        if username:
            sign_in(self.page, username)  # the form in Chinese; the pages then in self.lang
            self.page.wait_for_url(lambda url: "/auth/login" not in url)
        self.username = username

    def open(self, path):
        """Open path in the context's language, its scripts run (no page loads content after that but the map)."""
        self.page.goto(f"{path}?lang={self.lang}")
        if path == "/map/":  # the map draws its households after the page has loaded
            self.page.wait_for_selector("#map-frame[data-ready=true]")


@pytest.fixture(scope="module", params=SETTINGS, ids=["-".join(setting) for setting in SETTINGS])
def visitor(request, browser, playwright_instance, live_server):
    """A browser context in one (language, viewport), kept for all the pages of the module."""
    lang, viewport = request.param
    if viewport == "phone":
        options = dict(playwright_instance.devices["Pixel 5"])
    else:
        options = {"viewport": {"width": 1280, "height": 800}}
    # Chinese phones: the sign-in form is read in Chinese by sign_in(); ?lang=en switches each page.
    context = browser.new_context(**options, locale="zh-CN", service_workers="block", base_url=live_server.url,
                                  permissions=["geolocation"], geolocation={"latitude": 30.28, "longitude": 120.1})
    context.set_default_timeout(15_000)
    # The offline copy (every household page of the member, fetched in the background by the service worker or
    # the page) is not what is judged here and slows every page after it: no worker, and no manifest to copy.
    # Its status line stays on the page and is judged.
    context.route("**/api/offline-manifest", lambda route: route.abort())
    yield Visitor(context, lang)
    context.close()


def describe(violations):
    """Each violation with what to fix and where, for the failure message."""
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"][:8]:
            lines.append(f"    {node['target']}")
            lines.extend(f"      {line}" for line in (node["summary"] or "").splitlines())
        if len(violation["nodes"]) > 8:
            lines.append(f"    … and {len(violation['nodes']) - 8} more")
    return "\n".join(lines)


@pytest.mark.parametrize("name, username, path", PAGES, ids=[page[0] for page in PAGES])
def test_no_serious_or_critical_violations(visitor, examples, name, username, path):
    visitor.become(username)
    visitor.open(path.format(**examples))
    visitor.page.add_script_tag(url=AXE)
    violations = visitor.page.evaluate(RUN_AXE, TAGS)
    failing = [violation for violation in violations if violation["impact"] in FAILING]
    assert not failing, f"axe-core on {name} ({visitor.page.url}):\n{describe(failing)}"
