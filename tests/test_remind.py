"""`fieldapp remind` against a local HTTP receiver that records what it got: the digest's counts and addresses (no
names, phones or tags), once a day, retries, an unreachable robot logged while the others go out; the admin's page
of the robots."""
import json
import logging
import socket
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fieldapp import remind
from fieldapp.data import reminders
from fieldapp.data.db import rows
from tests import factories

SECRET = "SECRETKEY0123456789"


class Receiver:
    """A robot's webhook on 127.0.0.1: records each POST (path, JSON body) and answers the statuses queued in
    `answers` first, then 200."""

    def __init__(self):
        self.got, self.answers = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append({"path": self.path, "body": json.loads(body)})
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key={SECRET}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def messages(self):
        return [entry["body"]["message"] for entry in self.got]


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()
    made.server.server_close()


def closed_port_url():
    """A webhook address on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook/{SECRET}"


@pytest.fixture
def world(app, db):
    """Grid 东区 with a cell of member 张党员: two households (a tagged resident with a phone; an overdue request) and
    a household waiting for its return visit; grid 西区 with one household; admin boss."""
    app.config["REMIND_BACKOFF_SECONDS"] = 0
    east, west = factories.make_grid(db, name="东区"), factories.make_grid(db, name="西区")
    cell = factories.make_cell(db, east)
    member = factories.make_user(db, "member", "m1", display_name="张党员")
    factories.make_user(db, "admin", "boss")
    factories.assign(db, cell, member)
    first = factories.make_household(db, cell, address="幸福里 3号楼 501")
    second = factories.make_household(db, cell, address="幸福里 5号楼 202")
    factories.make_resident(db, first, name="李秀兰", phone="13912345678", tags=["elderly_alone"])
    factories.make_request(db, second, member, due_date="2020-01-01", description="楼道灯坏了")
    factories.make_request(db, first, member, status="resolved")
    factories.make_household(db, factories.make_cell(db, west), address="西区 1号")
    return {"east": east, "west": west}


def configure(db, grid_id, target, hour=8):
    reminders.save_robot(db, grid_id, kind="wecom", target=target, digest_hour=hour, enabled=True, user_id=None)


def test_the_digest_carries_counts_and_addresses_once_a_day(db, runner, receiver, world):
    configure(db, world["east"], receiver.url)
    result = runner.invoke(args=["remind", "--now"])
    assert result.exit_code == 0, result.output
    assert [entry["path"] for entry in receiver.got] == [f"/cgi-bin/webhook/send?key={SECRET}"] * 2  # key passed on
    digest, alert = receiver.messages()
    assert digest.startswith("【零距离】东区") and "待走访住户：2 户（本周期已联系 0/2 户）" in digest
    assert "未办结诉求：1 件，其中逾期 1 件" in digest and "待回访：1 件" in digest
    assert "逾期诉求 1 件" in alert and "幸福里 5号楼 202" in alert
    for private in ("李秀兰", "13912345678", "1391", "独居", "张党员", "楼道灯坏了", "m1"):
        assert private not in digest + alert
    again = runner.invoke(args=["remind", "--now"])
    assert again.exit_code == 0 and len(receiver.got) == 2  # no second digest the same day
    assert "2 sent before" in again.output
    logged = rows(db, "SELECT message, status, attempts, error FROM reminder_log ORDER BY id")
    assert logged == [{"message": "digest", "status": "sent", "attempts": 1, "error": None},
                      {"message": "overdue", "status": "sent", "attempts": 1, "error": None}]


def test_a_digest_waits_for_its_hour(app, db, receiver, world):
    from fieldapp.clock import clock

    configure(db, world["east"], receiver.url, hour=9)
    with app.test_request_context():
        now = clock(db)
        early = remind.run(db, now, now=datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc))  # 08:30 in Shanghai
        assert early["waiting"] == 1 and receiver.got == []
        on_time = remind.run(db, now, now=datetime(2026, 12, 1, 1, 5, tzinfo=timezone.utc))  # 09:05
    assert on_time["sent"] == 2 and len(receiver.got) == 2
    assert rows(db, "SELECT DISTINCT day FROM reminder_log") == [{"day": "2026-12-01"}]


def test_a_robot_answering_500_is_tried_again_until_it_takes_the_message(db, runner, receiver, world):
    configure(db, world["east"], receiver.url)
    receiver.answers = [500, 500]
    result = runner.invoke(args=["remind", "--now"])
    assert result.exit_code == 0, result.output
    assert len(receiver.got) == 4  # the digest three times, then the alert
    digest = rows(db, "SELECT status, attempts, error FROM reminder_log WHERE message = 'digest'")[0]
    assert digest == {"status": "sent", "attempts": 3, "error": None}


def test_an_unreachable_robot_is_logged_and_the_command_finishes(auth, caplog, client, db, runner, receiver, world):
    caplog.set_level(logging.DEBUG)  # apprise and urllib3 name the URL at debug level
    configure(db, world["east"], closed_port_url())
    configure(db, world["west"], receiver.url)
    result = runner.invoke(args=["remind", "--now"])
    assert result.exit_code == 1 and "2 failed" in result.output  # the digest and the alert of 东区
    assert len(receiver.got) == 1 and "西区" in receiver.messages()[0]  # 西区 still got its digest
    failed = rows(db, "SELECT status, attempts, error FROM reminder_log WHERE grid_id = ? AND message = 'digest'",
                  [world["east"]])[0]
    assert failed["status"] == "failed" and failed["attempts"] == 3
    assert "127.0.0.1" in failed["error"] and SECRET not in failed["error"]
    assert "attempt=3 failed" in caplog.text and "Loaded JSON URL" in caplog.text and SECRET not in caplog.text
    auth.login("boss")
    page = client.get("/admin/reminders/?lang=en").get_data(as_text=True)
    assert "failed" in page and SECRET not in page and "••••" in page
    # The next run tries the failed messages again, and sends nothing twice.
    configure(db, world["east"], receiver.url)
    assert runner.invoke(args=["remind", "--now"]).exit_code == 0
    assert len(receiver.got) == 3
    assert rows(db, "SELECT attempts FROM reminder_log WHERE grid_id = ? AND message = 'digest'",
                [world["east"]]) == [{"attempts": 4}]


def test_the_admin_sets_up_a_robot_and_sends_a_test_message(auth, client, db, receiver, world):
    auth.login("boss")
    path = f"/admin/reminders/grids/{world['east']}"
    token = auth.csrf_token(path)
    unreadable = client.post(path + "?lang=en", data={"kind": "wecom", "target": "http://[::1", "digest_hour": "8",
                                                      "csrf_token": token})
    assert unreadable.status_code == 422 and 'id="error-target"' in unreadable.get_data(as_text=True)
    bad = client.post(path + "?lang=en", data={"kind": "wecom", "target": "not a webhook", "digest_hour": "25",
                                               "enabled": "1", "csrf_token": token})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="error-target"' in text and 'id="error-digest_hour"' in text
    assert reminders.robot(db, world["east"]) is None  # nothing saved
    dingtalk = "https://oapi.dingtalk.com/robot/send?access_token=abcdef123456"
    other_kind = client.post(path + "?lang=en", data={"kind": "wecom", "digest_hour": "8", "csrf_token": token,
                                                      "target": dingtalk})
    assert "another kind of robot" in other_kind.get_data(as_text=True)
    saved = client.post(path, data={"kind": "wecom", "target": receiver.url, "digest_hour": "7", "enabled": "1",
                                    "csrf_token": token})
    assert saved.status_code == 302
    form = client.get(path).get_data(as_text=True)
    assert SECRET not in form and SECRET[-4:] in form  # only its last four characters shown back
    kept = client.post(path, data={"kind": "wecom", "target": "", "digest_hour": "9", "csrf_token": token})
    assert kept.status_code == 302
    assert reminders.robot(db, world["east"])["target"] == receiver.url  # a blank webhook keeps the stored one
    assert SECRET not in json.dumps(rows(db, "SELECT detail FROM audit_log"), ensure_ascii=False)
    client.post(f"{path}/test", data={"csrf_token": token})
    assert receiver.messages() == ["【零距离】东区：测试消息，群机器人已设置好。"]
    assert "Test message sent." in client.get("/admin/reminders/").get_data(as_text=True)


def test_webhook_addresses_go_to_their_apprise_schemas():
    assert remind.apprise_url("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123") == \
        "wecombot://abc-123"
    assert remind.apprise_url("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=t0ken123") == \
        "dingtalk://t0ken123/"
    assert remind.apprise_url("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/ab-12-cd") == "feishu://ab-12-cd/"
    assert remind.apprise_url("feishu", "abcdef-12345") == "feishu://abcdef-12345/"
    assert remind.apprise_url("wecom", "https://relay.example.org/robot?key=k1") == \
        "jsons://relay.example.org/robot?-key=k1"
