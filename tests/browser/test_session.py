"""Signing in and out: the password form (by keyboard alone), the session token, expiry."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Gateway
from tests.browser.helpers import http, screenshot, sign_in

TOKEN = "sessionStorage.getItem('kaixu.admin.token')"


def test_sign_in_by_keyboard_wrong_password_then_right(page: Page, gateway: Gateway) -> None:
    response = page.goto("/admin/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp

    # The email comes first (named accounts); left empty, the password is the admin password.
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.press("Tab")
    password = page.get_by_label("Admin password")
    expect(password).to_be_focused()
    screenshot(page, "login")

    page.keyboard.type("not-the-password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Wrong admin password")
    assert page.evaluate(TOKEN) is None

    # The typed password stays selected, so typing replaces it; Tab reaches the button.
    expect(password).to_be_focused()
    page.keyboard.type(gateway.password)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")

    nav = page.get_by_role("navigation", name="Sections")
    expect(nav).to_be_visible()
    assert page.evaluate(TOKEN)
    # The sidebar works from the keyboard too.
    nav.get_by_role("link", name="Pricing").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=2, name="Pricing")).to_be_visible()

    token = page.evaluate(TOKEN)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("login-message")).to_have_text("You have signed out.")
    assert page.evaluate(TOKEN) is None
    # Signing out ended the session on the gateway: a copy of the token opens nothing.
    bearer = {"Authorization": f"Bearer {token}"}
    assert http("GET", f"{gateway.url}/admin/api/customers", headers=bearer)[0] == 401


def test_an_empty_password_is_explained(page: Page) -> None:
    page.goto("/admin/")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Enter the admin password.")


def test_an_invalid_token_returns_to_sign_in_with_a_message(page: Page, gateway: Gateway) -> None:
    sign_in(page, gateway.password)
    page.evaluate("sessionStorage.setItem('kaixu.admin.token', 'garbage.not-a-token')")
    page.reload()
    expect(page.get_by_test_id("login-message")).to_contain_text(
        "Your session has expired or is no longer valid"
    )
    expect(page.get_by_label("Admin password")).to_be_visible()
    assert page.evaluate(TOKEN) is None


def test_a_token_that_stops_working_mid_session_signs_out(page: Page, gateway: Gateway) -> None:
    """Any call answering 401 (here: a panel's first load after the token broke) signs out."""
    sign_in(page, gateway.password)
    page.evaluate("sessionStorage.setItem('kaixu.admin.token', 'expired.token')")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Audit").click()
    expect(page.get_by_test_id("login-message")).to_contain_text("expired")
    # Signing in again goes back to work.
    page.get_by_label("Admin password").fill(gateway.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("navigation", name="Sections")).to_be_visible()


def test_a_past_expiry_time_is_caught_before_any_call(page: Page, gateway: Gateway) -> None:
    sign_in(page, gateway.password)
    page.evaluate("sessionStorage.setItem('kaixu.admin.expires_at', '2000-01-01T00:00:00Z')")
    page.reload()
    expect(page.get_by_test_id("login-message")).to_contain_text("expired")
