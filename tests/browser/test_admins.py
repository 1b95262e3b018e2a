"""Admins as a team in the dashboard: an owner adds accounts in the Admins panel, each person
signs in with their email, sees only what their role may do, and may add a second factor."""

from __future__ import annotations

import secrets
import time

import pyotp
from playwright.sync_api import Page, expect

from tests.browser.conftest import Gateway
from tests.browser.helpers import open_panel, screenshot, sign_in

PASSWORD = "a long browser-test password"


def sign_in_as(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/admin/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Sections")).to_be_visible()


def test_an_owner_adds_a_viewer_who_sees_no_write_controls(page: Page, gateway: Gateway) -> None:
    email = f"viewer-{secrets.token_hex(3)}@example.com"
    gateway.api.call("POST", "/customers", {"id": f"team-{secrets.token_hex(3)}", "name": "Team"})
    sign_in(page, gateway.password)
    open_panel(page, "Admins")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_label("Initial password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".success")).to_contain_text(f"{email} can sign in now, as viewer.")
    row = page.locator(f"tr[data-admin='{email}']")
    expect(row).to_contain_text("Active")
    expect(row.get_by_label(f"Role of {email}")).to_have_value("viewer")
    screenshot(page, "admins")
    page.get_by_role("button", name="Sign out").click()

    sign_in_as(page, email)
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(f"{email} · viewer")
    nav = page.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link", name="Customers")).to_be_visible()
    expect(nav.get_by_role("link", name="Admins")).to_have_count(0)
    open_panel(page, "Customers")
    expect(page.get_by_role("table")).to_be_visible()
    expect(page.get_by_role("heading", name="Create customer + issue master key")).to_have_count(0)
    open_panel(page, "Pricing")
    expect(page.get_by_role("button", name="Edit prices")).to_have_count(0)


def test_an_operator_sees_the_team_view_but_not_the_admins(page: Page, gateway: Gateway) -> None:
    email = f"ops-{secrets.token_hex(3)}@example.com"
    gateway.api.call("POST", "/admins", {"email": email, "role": "operator", "password": PASSWORD})
    sign_in_as(page, email)
    nav = page.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link", name="Admins")).to_have_count(0)
    open_panel(page, "Customers")
    expect(page.get_by_role("heading", name="Create customer + issue master key")).to_be_visible()
    # A role lowered by an owner shows at the next load: the dashboard asks who it is.
    account = next(a for a in gateway.api.call("GET", "/admins")["admins"] if a["email"] == email)
    gateway.api.call("PATCH", f"/admins/{account['id']}", {"role": "viewer"})
    page.reload()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("viewer")
    open_panel(page, "Customers")
    expect(page.get_by_role("heading", name="Create customer + issue master key")).to_have_count(0)


def test_a_second_factor_is_set_up_and_then_asked_for(page: Page, gateway: Gateway) -> None:
    email = f"2fa-{secrets.token_hex(3)}@example.com"
    gateway.api.call("POST", "/admins", {"email": email, "role": "viewer", "password": PASSWORD})
    sign_in_as(page, email)
    open_panel(page, "My account")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Set up an authenticator").click()
    secret = page.get_by_test_id("totp-secret").inner_text()
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from the app").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_text("Sign-in now asks for your authenticator's code.")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    code = page.get_by_label("Authenticator code")
    expect(code).to_be_focused()
    code.fill(totp.at(time.time() + 30))  # the next step's: the confirming one is used up
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(email)
