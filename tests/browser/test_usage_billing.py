"""Usage, credit, policy and invoices in the browser, after real calls through the gateway.

The fake OpenAI bills `fake:usage=IN,OUT` tokens; gpt-4o-mini costs $0.15 / $0.60 per 1M tokens,
so 1000 in + 500 out is 0.015 + 0.03 = 0.045 cents.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Gateway, PageProblems, StripeGateway, make_page
from tests.browser.helpers import (
    chat,
    csv_rows,
    error_type,
    open_panel,
    screenshot,
    select_customer,
    sign_in,
)


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def test_usage_figures_and_chart_follow_real_calls(page: Page, gateway: Gateway) -> None:
    customer, key = gateway.api.create_customer("usage", monthly_cap_cents=1000)
    for _ in range(3):
        assert chat(gateway.url, key)[0] == 200
    sign_in(page, gateway.password)
    select_customer(page, customer["id"])
    open_panel(page, "Usage")

    expect(page.get_by_test_id("stat-cap")).to_contain_text("$10.00")
    expect(page.get_by_test_id("stat-spent")).to_contain_text("0.135 ¢")
    expect(page.get_by_test_id("stat-requests")).to_contain_text("3")
    expect(page.get_by_test_id("stat-input-tokens")).to_contain_text("3,000")
    expect(page.get_by_test_id("stat-output-tokens")).to_contain_text("1,500")
    bar = page.get_by_test_id("daily-chart").locator(f"rect.bar[data-day='{today()}']")
    expect(bar).to_have_count(1)
    expect(bar.locator("title")).to_have_text(f"{today()}: 0.135 ¢ · 3 request(s)")
    by_model = page.get_by_role("region", name="Usage by model").get_by_role("row")
    expect(by_model.filter(has_text="gpt-4o-mini")).to_contain_text("0.135 ¢")
    requests = page.get_by_role("region", name="Requests").locator("tbody tr")
    expect(requests).to_have_count(3)
    expect(requests.first).to_contain_text("0.045 ¢")
    screenshot(page, "usage")

    # A bigger call, then Refresh: figures and the day's bar follow (3.3 cents more). Its
    # prompt and max_tokens are large enough for that usage to be believed (reported usage is
    # clamped to what the request could produce).
    big = "fake:usage=100000,30000 " + "x" * 100_000
    assert chat(gateway.url, key, text=big, max_tokens=30000)[0] == 200
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_test_id("stat-spent")).to_contain_text("$0.03435")
    expect(bar.locator("title")).to_have_text(f"{today()}: $0.03435 · 4 request(s)")
    expect(requests).to_have_count(4)

    # Another month has nothing.
    page.get_by_label("Month").fill("2020-01")
    expect(page.get_by_test_id("stat-spent")).to_contain_text("$0.00")
    expect(page.get_by_test_id("daily-chart").locator("rect.bar")).to_have_count(0)


def test_usage_requests_are_paged(page: Page, gateway: Gateway) -> None:
    customer, key = gateway.api.create_customer("paged", monthly_cap_cents=1000)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: chat(gateway.url, key)[0], range(55)))
    assert statuses == [200] * 55
    sign_in(page, gateway.password)
    select_customer(page, customer["id"])
    open_panel(page, "Usage")

    rows = page.get_by_role("region", name="Requests").locator("tbody tr")
    expect(rows).to_have_count(50)
    expect(page.get_by_text("Page 1 · 55 request(s) this month")).to_be_visible()
    page.get_by_role("button", name="Older →").click()
    expect(rows).to_have_count(5)
    expect(page.get_by_role("button", name="Older →")).to_be_disabled()
    page.get_by_role("button", name="← Newer").click()
    expect(rows).to_have_count(50)


def test_top_up_raises_the_allowance(page: Page, gateway: Gateway) -> None:
    customer, key = gateway.api.create_customer("credit", monthly_cap_cents=0)
    status, answer = chat(gateway.url, key)
    assert (status, error_type(answer)) == (402, "cap_exceeded")
    sign_in(page, gateway.password)
    select_customer(page, customer["id"])
    open_panel(page, "Billing & controls")
    balance = page.get_by_test_id("credit-balance")
    expect(balance).to_have_text("$0.00")

    # Stripe is not configured here: the button is off, and the card says why and what to do.
    expect(page.get_by_test_id("stripe-not-configured")).to_contain_text("STRIPE_SECRET_KEY")
    expect(page.get_by_role("button", name="Pay with Stripe Checkout")).to_be_disabled()

    page.get_by_label("Top-up amount (USD)").fill("5,00 dollars")
    page.get_by_role("button", name="Add credit").click()
    expect(page.get_by_role("alert")).to_contain_text("must be an amount in US dollars")
    page.get_by_label("Top-up amount (USD)").fill("5.00")
    page.get_by_label("Note").fill("Paid by wire, ref 42")
    page.get_by_role("button", name="Add credit").click()
    expect(page.get_by_role("status").filter(has_text="Added $5.00")).to_have_text(
        "Added $5.00; credit is now $5.00."
    )
    expect(balance).to_have_text("$5.00")
    history = page.get_by_role("region", name="Credit history")
    expect(history).to_contain_text("Paid by wire, ref 42")
    screenshot(page, "billing")

    # The allowance changed for real: the customer's calls go through, drawing the credit.
    assert chat(gateway.url, key)[0] == 200
    open_panel(page, "Usage")
    expect(page.get_by_test_id("stat-credit")).to_contain_text("$4.99955")
    expect(page.get_by_test_id("stat-left")).to_contain_text("$4.99955")


def test_policy_edit_and_invoice_snapshots(page: Page, gateway: Gateway) -> None:
    customer, key = gateway.api.create_customer("policy", monthly_cap_cents=1000)
    for _ in range(2):
        assert chat(gateway.url, key)[0] == 200
    sign_in(page, gateway.password)
    select_customer(page, customer["id"])
    open_panel(page, "Billing & controls")

    page.get_by_label("Plan").fill("enterprise")
    page.get_by_label("Monthly cap (USD)").fill("25")
    page.get_by_label("Requests per minute").fill("600")
    page.get_by_label("Active").uncheck()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status").filter(has_text="Saved")).to_have_text(
        "Saved: plan, monthly_cap_cents, rpm_limit, active."
    )
    # An inactive customer's keys are refused at once.
    assert chat(gateway.url, key)[0] == 401
    page.get_by_label("Active").check()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status").filter(has_text="Saved")).to_have_text("Saved: active.")
    assert chat(gateway.url, key)[0] == 200
    stored = gateway.api.call("GET", f"/customers/{customer['id']}")["customer"]
    assert (stored["plan"], stored["monthly_cap_cents"], stored["rpm_limit"]) == (
        "enterprise",
        2500,
        600,
    )

    # Invoice snapshots: create, see the figures, create a second version, view the first.
    page.get_by_role("button", name="Create invoice snapshot").click()
    detail = page.get_by_test_id("invoice-detail")
    expect(detail).to_contain_text("v1")
    expect(detail.get_by_role("row").filter(has_text="gpt-4o-mini")).to_contain_text("0.135 ¢")
    page.get_by_role("button", name="Create invoice snapshot").click()
    expect(detail).to_contain_text("v2")
    snapshots = page.get_by_role("region", name="Invoice snapshots").locator("tbody tr")
    expect(snapshots).to_have_count(2)
    page.get_by_role("button", name="View invoice").filter(has_text="View").last.click()
    expect(page.get_by_role("heading", level=4)).to_contain_text("v1")

    with page.expect_download() as info:
        detail.get_by_role("button", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename.startswith(f"invoice-{customer['id']}-")
    rows = csv_rows(download)
    line = next(row for row in rows if row["kind"] == "line_item")
    assert (line["model"], line["requests"], line["amount_cents"]) == (
        "gpt-4o-mini",
        "3",
        "0.135000",
    )


# The Checkout URL points at stripe.com: record what the page opens instead of opening it, so
# the test never leaves this machine (an init script is not subject to the page's CSP).
RECORD_WINDOW_OPEN = """
window.__opened = [];
window.open = (...args) => { window.__opened.push(args); return null; };
"""


def test_stripe_checkout_opens_the_session_url(
    browser: Browser, stripe_gateway: StripeGateway, problems: PageProblems
) -> None:
    gateway = stripe_gateway.gateway
    customer, _ = gateway.api.create_customer("stripe", monthly_cap_cents=0)
    page = make_page(browser, gateway, problems)
    try:
        page.add_init_script(RECORD_WINDOW_OPEN)
        sign_in(page, gateway.password)
        select_customer(page, customer["id"])
        open_panel(page, "Billing & controls")
        pay = page.get_by_role("button", name="Pay with Stripe Checkout")

        page.get_by_label("Checkout amount (USD)").fill("0.25")
        pay.click()
        expect(page.get_by_role("alert")).to_contain_text("must be between 50 and 1,000,000 cents")

        page.get_by_label("Checkout amount (USD)").fill("20")
        pay.click()
        created = page.get_by_role("status").filter(has_text="Checkout session")
        expect(created).to_contain_text("created")
        (session_id,) = stripe_gateway.stripe.sessions
        session = stripe_gateway.stripe.sessions[session_id]
        assert session["amount_total"] == 2000
        assert page.evaluate("window.__opened") == [[session["url"], "_blank", "noopener"]]
        link = page.get_by_role("link", name="open Stripe Checkout")
        expect(link).to_have_attribute("href", session["url"])
        expect(page.get_by_test_id("stripe-not-configured")).to_have_count(0)
    finally:
        page.context.close()
    assert problems.errors == []
    assert problems.dialogs == []
