"""The login page in a real Chromium: it renders, and a user can log in with it."""

import pytest

from apps.accounts.tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_renders_the_login_page_and_logs_in(page, live_server, artifacts):
    UserFactory(email="pat@example.com", username="pat")
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("h1").inner_text() == "Welcome back"
    page.screenshot(path=str(artifacts / "login.png"))
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(11, 14, 20)"  # the dark theme is the default
    page.fill("input[name=username]", "pat@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert "pat" in page.locator(".user-name").inner_text()


def test_it_shows_a_clear_error_for_a_wrong_password(page, live_server):
    UserFactory(email="quinn@example.com")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "quinn@example.com")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "correct email address and password" in page.locator(".form-error").inner_text()
