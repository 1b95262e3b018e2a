"""The Overview panel, the landing page: spend, traffic and who is near their allowance.

The fake OpenAI bills `fake:usage=IN,OUT` tokens; gpt-4o-mini at $0.15 / $0.60 per 1M tokens, so
2000 in + 1000 out is 0.03 + 0.06 = 0.09 cents: 90 % of a 0.1-cent cap.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Gateway
from tests.browser.helpers import chat, sign_in


def test_the_overview_is_the_landing_page_and_shows_a_customer_near_its_cap(
    page: Page, gateway: Gateway
) -> None:
    customer, key = gateway.api.create_customer("near", monthly_cap_cents=0.1)
    assert chat(gateway.url, key, text="fake:usage=2000,1000", max_tokens=1000)[0] == 200
    overview = gateway.api.call("GET", "/overview")
    assert customer["id"] in [c["id"] for c in overview["over_80_percent"]]

    sign_in(page, gateway.password)
    expect(page.get_by_role("heading", level=2, name="Overview")).to_be_visible()
    expect(page.get_by_test_id("overview-month")).to_contain_text("Spent this month")
    expect(page.get_by_test_id("overview-rpm")).to_contain_text("Requests / min")
    providers = page.get_by_role("region", name="Errors by provider")
    expect(providers.get_by_role("row").filter(has_text="openai")).to_be_visible()
    near = page.get_by_role("region", name="Customers near their allowance")
    row = near.get_by_role("row").filter(has_text=customer["id"])
    expect(row).to_contain_text("0.09 ¢")
    expect(row).to_contain_text("90 %")
