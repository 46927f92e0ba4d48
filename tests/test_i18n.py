"""Both languages: Simplified Chinese by default, English on request, and the choice remembered."""
import os

import pytest


def test_chinese_is_the_default(client):
    body = client.get("/auth/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in body and "登录" in body


@pytest.mark.parametrize("header", ["zh-CN,zh;q=0.9", "zh-Hans-CN", "zh-TW", "fr-FR"])
def test_accept_language_prefers_chinese(client, header):
    body = client.get("/auth/login", headers={"Accept-Language": header}).get_data(as_text=True)
    assert "用户名" in body


def test_english_browser_gets_english(client):
    body = client.get("/auth/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in body and "Username" in body


def test_lang_switch_is_remembered(client):
    body = client.get("/auth/login?lang=en").get_data(as_text=True)
    assert "Sign in" in body and "Username" in body
    body = client.get("/auth/login").get_data(as_text=True)
    assert "Username" in body
    body = client.get("/auth/login?lang=zh").get_data(as_text=True)
    assert "用户名" in body
    assert "用户名" in client.get("/auth/login").get_data(as_text=True)


@pytest.mark.parametrize("lang, text", [("zh", "页面不存在。"), ("en", "This page does not exist.")])
def test_404_in_both_languages(client, lang, text):
    response = client.get(f"/no/such/page?lang={lang}")
    assert response.status_code == 404
    assert text in response.get_data(as_text=True)


@pytest.mark.parametrize("lang, text", [("zh", "您无权打开此页面。"), ("en", "You may not open this page.")])
def test_403_in_both_languages(auth, client, db, lang, text):
    from tests import factories

    factories.make_user(db, "member", "mem")
    auth.login("mem")
    response = client.get(f"/admin/?lang={lang}")
    assert response.status_code == 403
    assert text in response.get_data(as_text=True)


@pytest.mark.parametrize("lang, text", [("zh", "服务器出错了"), ("en", "Something went wrong on our side")])
def test_500_in_both_languages(db_dir, lang, text):
    from fieldapp import create_app

    app = create_app({"DATABASE": f"{db_dir}/500.db", "SECRET_KEY": "x"})

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    response = app.test_client().get(f"/boom?lang={lang}")
    assert response.status_code == 500
    assert text in response.get_data(as_text=True)


def test_every_message_has_a_chinese_translation():
    """Every string the code and templates mark for translation has a Chinese translation."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.pofile import read_po

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "fieldapp/translations/zh/LC_MESSAGES/messages.po"), "rb") as po:
        catalog = read_po(po)
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog
                  if m.id and not m.fuzzy and (m.string if isinstance(m.string, str) else m.string[0])}
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    method_map = [("fieldapp/**.py", "python"), ("templates/**.html", "jinja2")]
    used = {(message if isinstance(message, str) else message[0], f"{filename}:{line}")
            for filename, line, message, _comments, _context in extract_from_dir(root, method_map, keywords=keywords)}
    missing = sorted(place + " " + message for message, place in used if message not in translated)
    assert missing == []
