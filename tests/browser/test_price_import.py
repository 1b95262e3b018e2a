"""Importing a price file in the Pricing panel: the preview says what it adds and changes, and
nothing changes until it is applied; an alias added there bills a new name at once."""

from __future__ import annotations

import secrets
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Gateway
from tests.browser.helpers import chat, open_panel, sign_in

FIXTURE = Path(__file__).parents[1] / "fixtures" / "litellm-prices.json"


def test_an_imported_file_is_previewed_then_applied(page: Page, gateway: Gateway, tmp_path) -> None:
    model = f"gpt-import-{secrets.token_hex(3)}"
    path = tmp_path / "prices.csv"
    path.write_text(f"provider,model,input,output\nopenai,{model},1.25,5.00\n")
    sign_in(page, gateway.password)
    open_panel(page, "Pricing")
    page.get_by_label("Price file").set_input_files(str(path))
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_test_id("import-preview")
    expect(preview).to_contain_text("1 added, 0 changed")
    expect(preview.get_by_role("region", name="Added")).to_contain_text(f"openai/{model}")
    prices = gateway.api.call("GET", "/pricing")["prices"]
    assert all(p["model"] != model for p in prices)  # a preview changes nothing

    page.get_by_role("button", name="Apply 1 changes").click()
    expect(page.locator(".success")).to_contain_text("Imported prices.csv: 1 added, 0 changed")
    expect(page.locator(f"tr[data-model='openai/{model}']")).to_contain_text("$1.25")
    priced = next(p for p in gateway.api.call("GET", "/pricing")["prices"] if p["model"] == model)
    assert (priced["input"], priced["output"]) == (1.25, 5.0)


def test_the_community_file_shows_its_warnings_before_anything_changes(
    page: Page, gateway: Gateway
) -> None:
    sign_in(page, gateway.password)
    open_panel(page, "Pricing")
    page.get_by_label("Price file").set_input_files(str(FIXTURE))
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_test_id("import-preview")
    expect(preview).to_contain_text("skipped (other providers, or not chat models)")
    expect(
        preview.locator(".warning").filter(has_text="input_cost_per_audio_token")
    ).to_contain_text("ignored (not a price the gateway bills)")
    page.get_by_role("button", name="Cancel").click()
    expect(preview).to_have_count(0)


def test_an_alias_added_in_the_panel_bills_the_new_name(page: Page, gateway: Gateway) -> None:
    alias = f"team-mini-{secrets.token_hex(3)}"
    _, key = gateway.api.create_customer("alias")
    status, answer = chat(gateway.url, key, model=alias)
    assert status == 400 and answer["error"]["type"] == "model_not_priced"
    sign_in(page, gateway.password)
    open_panel(page, "Pricing")
    page.get_by_label("Alias provider").fill("openai")
    page.get_by_label("Alias", exact=True).fill(alias)
    page.get_by_label("Billed as").fill("gpt-4o-mini")
    page.get_by_role("button", name="Add alias").click()
    expect(page.locator(f"tr[data-alias='openai/{alias}']")).to_contain_text("operator")
    status, answer = chat(gateway.url, key, model=alias)
    assert status == 200, answer
