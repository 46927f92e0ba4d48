"""A member signs in on a phone and lands on their households."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def test_member_signs_in_on_a_phone_and_reaches_their_households(phone):
    sign_in(phone, "member1")
    expect(phone).to_have_url(re.compile(r"/households/$"))
    expect(phone.get_by_role("heading", name="我的住户")).to_be_visible()
    # Phones get the bottom navigation bar, not the top one.
    expect(phone.locator(".bottomnav")).to_be_visible()
    expect(phone.locator(".topnav")).to_be_hidden()
    assert phone.viewport_size["width"] < 420


def test_wrong_password_shows_one_neutral_message(phone):
    sign_in(phone, "member1", "not the password", succeeds=False)
    expect(phone.get_by_role("alert")).to_have_text("用户名或密码错误，或账号已停用。")


def test_english_switch_is_remembered(phone):
    phone.goto("/auth/login")
    phone.get_by_role("link", name="English").click()
    expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    phone.reload()
    expect(phone.get_by_label("Username")).to_be_visible()
