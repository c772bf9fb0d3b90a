"""In a browser: a mistyped password keeps the form with its error; after the limit the
lockout page says why and for how long, and the right password no longer gets in."""

import pytest
from django.conf import settings
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_login__locked_out_after_repeated_failures(browser_page, screenshot, live_server, staff_user):
    page = browser_page

    def sign_in(password):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill("clerk")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()

    sign_in("not-my-password")
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    screenshot("login-wrong-password")

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in("not-my-password")
    expect(page.get_by_role("heading", name="Too many failed sign-ins")).to_be_visible()

    sign_in("pw-clerk-123")
    expect(page.get_by_role("heading", name="Too many failed sign-ins")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(f"locked after {settings.AXES_FAILURE_LIMIT} failed attempts")
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    expect(page.get_by_text(f"Try again in {minutes} minutes.")).to_be_visible()
    screenshot("login-locked-out")

    page.get_by_role("link", name="Back to sign in").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    page.goto(f"{live_server.url}/contacts/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/contacts/")
