"""Customers and keys in the browser, checked against real client calls to the gateway."""

from __future__ import annotations

import secrets

from playwright.sync_api import Page, expect

from tests.browser.conftest import Gateway, PageProblems
from tests.browser.helpers import (
    chat,
    error_type,
    open_panel,
    screenshot,
    select_customer,
    sign_in,
)


def test_create_customer_shows_the_master_key_once(page: Page, gateway: Gateway) -> None:
    sign_in(page, gateway.password)
    open_panel(page, "Customers")
    cid = f"acme-{secrets.token_hex(3)}"
    page.get_by_label("Customer ID").fill(cid)
    page.get_by_label("Name", exact=True).fill("Acme Inc")
    page.get_by_label("Plan").fill("pro")
    page.get_by_label("Monthly cap (USD)").fill("5")
    page.get_by_role("button", name="Create customer + issue master key").click()

    secret = page.get_by_test_id("secret-key")
    expect(secret).to_be_visible()
    expect(page.get_by_text("Store it now.")).to_be_visible()
    key = secret.inner_text()
    assert key.startswith("kx_")
    expect(page.get_by_test_id("selected-customer")).to_have_text(f"Acme Inc ({cid})")
    row = page.get_by_role("row").filter(has_text=cid)
    expect(row).to_contain_text("pro")
    expect(row).to_contain_text("$5.00")
    expect(row).to_have_class("selected")
    screenshot(page, "customers")

    page.get_by_role("button", name="Copy key").click()
    expect(page.get_by_role("button", name="Copied ✓")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key

    status, answer = chat(gateway.url, key)
    assert status == 200, answer

    # Gone once the operator moves on: not on the page, not in any storage.
    open_panel(page, "Keys")
    open_panel(page, "Customers")
    expect(page.get_by_role("row").filter(has_text=cid)).to_be_visible()
    expect(page.get_by_test_id("secret-key")).to_have_count(0)
    assert key not in page.content()
    assert key not in page.evaluate("JSON.stringify({...sessionStorage, ...localStorage})")


def test_create_customer_errors_are_shown_next_to_the_form(page: Page, gateway: Gateway) -> None:
    existing, _ = gateway.api.create_customer("dup")
    sign_in(page, gateway.password)
    open_panel(page, "Customers")
    page.get_by_label("Monthly cap (USD)").fill("ten dollars")
    page.get_by_role("button", name="Create customer + issue master key").click()
    expect(page.get_by_role("alert")).to_contain_text("must be an amount in US dollars")

    page.get_by_label("Monthly cap (USD)").fill("10")
    page.get_by_label("Customer ID").fill(existing["id"])
    page.get_by_role("button", name="Create customer + issue master key").click()
    expect(page.get_by_role("alert")).to_contain_text("already exists. (409 conflict)")
    expect(page.get_by_test_id("secret-key")).to_have_count(0)


def test_clicking_a_customer_row_selects_it_everywhere(page: Page, gateway: Gateway) -> None:
    first, _ = gateway.api.create_customer("pick", name="First Pick")
    second, _ = gateway.api.create_customer("pick", name="Second Pick")
    sign_in(page, gateway.password)
    open_panel(page, "Customers")

    expect(page.get_by_role("row").filter(has_text=first["id"])).to_be_visible()
    page.get_by_placeholder("Search by id, name or plan").fill("second pick")
    expect(page.get_by_role("row").filter(has_text=first["id"])).to_have_count(0)
    page.get_by_role("row").filter(has_text=second["id"]).get_by_role("cell").nth(1).click()
    expect(page.get_by_test_id("selected-customer")).to_have_text(f"Second Pick ({second['id']})")

    for panel in ("Keys", "Usage", "Billing & controls", "Devices"):
        open_panel(page, panel)
        expect(page.get_by_label("Customer", exact=True)).to_have_value(second["id"])
    # Picking another customer in a panel's picker selects it everywhere, too.
    page.get_by_label("Customer", exact=True).select_option(first["id"])
    open_panel(page, "Keys")
    expect(page.get_by_label("Customer", exact=True)).to_have_value(first["id"])
    expect(page.get_by_role("heading", name=f"Keys of {first['id']}")).to_be_visible()


def test_sub_keys_create_rotate_revoke_act_on_real_calls(page: Page, gateway: Gateway) -> None:
    customer, _ = gateway.api.create_customer("keys")
    sign_in(page, gateway.password)
    select_customer(page, customer["id"])
    open_panel(page, "Keys")
    expect(page.get_by_text("No sub-keys yet.")).to_be_visible()

    # Every setting of a sub-key, and Enter submits the form.
    page.get_by_label("Monthly cap (USD)").fill("2.50")
    page.get_by_label("Requests per minute").fill("100")
    page.get_by_label("Max devices").fill("3")
    page.get_by_label("Allowed models").fill("gpt-4o-mini, claude-*")
    page.get_by_role("checkbox", name="openai").check()
    page.get_by_role("checkbox", name="anthropic").check()
    page.get_by_label("Label").fill("Mobile app")
    page.get_by_label("Label").press("Enter")

    secret = page.get_by_test_id("secret-key")
    expect(secret).to_be_visible()
    first_key = secret.inner_text()
    row = page.get_by_role("row").filter(has_text=f"…{first_key[-4:]}")
    for text in ("Mobile app", "$2.50", "100", "3", "openai, anthropic", "gpt-4o-mini, claude-*"):
        expect(row).to_contain_text(text)
    expect(page.get_by_text("No sub-keys yet.")).to_have_count(0)
    assert chat(gateway.url, first_key)[0] == 200
    status, answer = chat(gateway.url, first_key, provider="gemini", model="gemini-2.5-flash")
    assert (status, error_type(answer)) == (403, "provider_not_allowed")
    screenshot(page, "keys")

    # Rotate: the dialog says what happens; the old key is refused at once, the new one works.
    row.get_by_role("button", name="Rotate").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("stops working immediately")
    expect(dialog).to_contain_text("same settings")
    dialog.get_by_role("button", name="Rotate key").click()
    expect(dialog).to_have_count(0)
    expect(secret).not_to_have_text(first_key)
    second_key = secret.inner_text()
    expect(row).to_contain_text("Revoked")
    assert chat(gateway.url, first_key)[0] == 401
    assert chat(gateway.url, second_key)[0] == 200
    new_row = page.get_by_role("row").filter(has_text=f"…{second_key[-4:]}")
    expect(new_row).to_contain_text("$2.50")

    # Escape backs out of a revoke; confirming it cuts the key off.
    new_row.get_by_role("button", name="Revoke").click()
    expect(dialog).to_contain_text("This cannot be undone")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert chat(gateway.url, second_key)[0] == 200
    new_row.get_by_role("button", name="Revoke").click()
    dialog.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("status").filter(has_text="is revoked")).to_be_visible()
    expect(new_row).to_contain_text("Revoked")
    status, answer = chat(gateway.url, second_key)
    assert (status, error_type(answer)) == (401, "unauthorized")

    # Revoked keys can be hidden; the master key stays.
    page.get_by_label("Hide revoked keys").check()
    expect(page.get_by_role("region", name="Keys").locator("tbody tr")).to_have_count(1)


def test_edit_a_key_s_overrides(page: Page, gateway: Gateway) -> None:
    customer, _ = gateway.api.create_customer("edit")
    key = gateway.api.create_key(customer["id"], label="Batch jobs", rpm_limit=10)
    sign_in(page, gateway.password)
    select_customer(page, customer["id"])
    open_panel(page, "Keys")
    row = page.get_by_role("row").filter(has_text="Batch jobs")
    row.get_by_role("button", name="Edit").click()
    expect(page.get_by_role("heading", name=f"Edit key …{key['last4']}")).to_be_visible()
    expect(page.get_by_label("Requests per minute")).to_have_value("10")
    page.get_by_label("Requests per minute").fill("")
    page.get_by_label("Require an install id").check()
    page.get_by_role("button", name="Save key").click()
    expect(page.get_by_role("status").filter(has_text="saved")).to_be_visible()
    expect(row).to_contain_text("none")
    saved = gateway.api.call("GET", f"/keys/{key['id']}")["key"]
    assert saved["rpm_limit"] is None and saved["require_install"] is True


def test_labels_and_names_show_as_text_never_as_html(
    page: Page, gateway: Gateway, problems: PageProblems
) -> None:
    label = "<img src=x onerror=alert(1)>"
    name = "<script>alert(2)</script>"
    customer, _ = gateway.api.create_customer("xss", name=name)
    sign_in(page, gateway.password)
    select_customer(page, customer["id"])
    expect(page.get_by_test_id("selected-customer")).to_have_text(f"{name} ({customer['id']})")
    open_panel(page, "Keys")
    page.get_by_label("Label").fill(label)
    page.get_by_role("button", name="Create sub-key").click()

    expect(page.get_by_role("heading", name=f"New sub-key “{label}”")).to_be_visible()
    expect(page.get_by_role("cell", name=label, exact=True)).to_be_visible()
    open_panel(page, "Audit")
    audit_row = page.get_by_role("row").filter(has_text="key.create")
    audit_row.get_by_role("button", name="Before / after").click()
    expect(page.locator("pre").filter(has_text=label).first).to_be_visible()

    assert page.locator("#app img, #app script").count() == 0
    assert problems.dialogs == []
