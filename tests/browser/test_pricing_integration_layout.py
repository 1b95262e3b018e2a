"""The price table, the integration guide, and the layout at a phone's width."""

from __future__ import annotations

import secrets

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Gateway, PageProblems, make_page
from tests.browser.helpers import chat, open_panel, screenshot, select_customer, sign_in


def prices(gateway: Gateway) -> dict[tuple[str, str], dict]:
    rows = gateway.api.call("GET", "/pricing")["prices"]
    return {(row["provider"], row["model"]): row for row in rows}


def test_pricing_edit_round_trip(page: Page, gateway: Gateway) -> None:
    model = f"ui-model-{secrets.token_hex(3)}"
    before = prices(gateway)
    sign_in(page, gateway.password)
    open_panel(page, "Pricing")
    expect(page.locator("tr[data-model='openai/gpt-4o-mini']")).to_contain_text("$0.075")
    screenshot(page, "pricing")

    page.get_by_role("button", name="Edit prices").click()
    page.get_by_role("button", name="Add a row").click()
    row = page.locator("table.edit-table tbody tr").last
    n = len(before) + 1
    row.get_by_label(f"Row {n} provider").fill("openai")
    row.get_by_label(f"Row {n} model").fill(model)
    row.get_by_label(f"{model} input price").fill("0.5")
    row.get_by_label(f"{model} output price").fill("abc")
    page.get_by_role("button", name="Save price table").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Row {n} (openai/{model}): Output must be")

    # The server's own checks are shown too, pointing at the row.
    row.get_by_label(f"{model} output price").fill("1.25")
    row.get_by_label(f"{model} long input price").fill("1")
    page.get_by_role("button", name="Save price table").click()
    expect(page.get_by_role("alert")).to_contain_text("needs long_context_threshold")
    expect(page.get_by_role("alert")).to_contain_text(f"row {n}: openai/{model}")
    row.get_by_label(f"{model} long input price").fill("")
    page.get_by_role("button", name="Save price table").click()
    expect(page.get_by_role("status")).to_contain_text(f"Saved {n} prices")

    shown = page.locator(f"tr[data-model='openai/{model}']")
    expect(shown).to_contain_text("$0.50")
    expect(shown).to_contain_text("$1.25")
    saved = prices(gateway)
    assert (saved[("openai", model)]["input"], saved[("openai", model)]["output"]) == (0.5, 1.25)
    assert all(saved[k]["input"] == v["input"] for k, v in before.items())

    # And back: remove the row, save, the table is as it was.
    page.get_by_role("button", name="Edit prices").click()
    page.get_by_role("button", name=f"Remove openai/{model}").click()
    page.get_by_role("button", name="Save price table").click()
    expect(page.get_by_role("status")).to_contain_text(f"Saved {n - 1} prices")
    expect(page.locator("tr[data-model='openai/gpt-4o-mini']")).to_be_visible()
    expect(shown).to_have_count(0)
    assert prices(gateway).keys() == before.keys()


def test_integration_panel_shows_this_gateway(page: Page, gateway: Gateway) -> None:
    sign_in(page, gateway.password)
    open_panel(page, "Integration")
    expect(page.get_by_test_id("gateway-url")).to_have_text(gateway.url)
    examples = page.locator("pre")
    expect(examples.filter(has_text="curl -s http")).to_contain_text(
        f"curl -s {gateway.url}/v1/gateway/chat"
    )
    expect(examples.filter(has_text="curl -sN")).to_contain_text(f"{gateway.url}/v1/gateway/stream")
    expect(examples.filter(has_text="from openai import OpenAI")).to_contain_text(
        f'base_url="{gateway.url}/v1"'
    )
    expect(examples.filter(has_text="event: meta")).to_contain_text("event: done")
    expect(page.get_by_role("region", name="Endpoints")).to_contain_text(
        f"{gateway.url}/v1/chat/completions"
    )
    page.get_by_role("button", name="Copy URL").click()
    assert page.evaluate("navigator.clipboard.readText()") == gateway.url
    screenshot(page, "integration", full_page=False)


# Each panel and something that shows it has its data (not just its heading).
PANELS = {
    "Customers": "table",
    "Keys": "table",
    "Usage": "[data-testid=daily-chart]",
    "Billing & controls": "[data-testid=credit-balance]",
    "Devices": "table",
    "Exports & invoices": "text=Download usage CSV",
    "Audit": "table",
    "Pricing": "table",
    "Upstreams": "table",
    "Integration": "pre",
}


def test_phone_width_never_overflows_the_page(
    browser: Browser, gateway: Gateway, problems: PageProblems
) -> None:
    customer, key = gateway.api.create_customer("phone", name="Phone Friendly Ltd")
    sub = gateway.api.create_key(customer["id"], label="Pocket app", max_devices=1)
    assert chat(gateway.url, sub["key"], headers={"X-Kaixu-Install-Id": "phone-7"})[0] == 200
    assert chat(gateway.url, key)[0] == 200
    page = make_page(browser, gateway, problems, viewport={"width": 390, "height": 844})
    try:
        page.goto("/admin/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        sign_in(page, gateway.password)
        select_customer(page, customer["id"])
        for panel, ready in PANELS.items():
            open_panel(page, panel)
            expect(page.locator("main").locator(ready).first).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{panel} is {width}px wide at a 390px viewport"
            if panel == "Usage":
                screenshot(page, "phone")
    finally:
        page.context.close()
    assert problems.errors == []
    assert problems.dialogs == []
