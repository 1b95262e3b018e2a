"""Upstreams in the browser: added, edited, switched off and on, tested and deleted through the
dashboard, against a second fake OpenAI server standing in for Groq; and the new provider's
name wherever the dashboard lists providers."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import FakeProvider, Gateway
from tests.browser.helpers import chat, open_panel, screenshot, select_customer, sign_in

MODEL = "llama-3.3-70b-versatile"


@pytest.fixture(scope="module")
def groq() -> Iterator[FakeProvider]:
    """A fake OpenAI-compatible server of its own: the calls it gets are the upstream's."""
    fake = FakeProvider("openai").start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def clean(gateway: Gateway) -> Iterator[None]:
    """Every test starts with the environment's upstreams only, and the price table as it was."""
    prices = gateway.api.call("GET", "/pricing")["prices"]
    yield
    for upstream in gateway.api.call("GET", "/upstreams")["upstreams"]:
        if not upstream["read_only"]:
            gateway.api.call("DELETE", f"/upstreams/{upstream['id']}")
    kept = [{k: v for k, v in p.items() if k != "updated_at"} for p in prices]
    gateway.api.call("PUT", "/pricing", {"prices": kept})


def new_key() -> str:
    return f"sk-upstream-{secrets.token_hex(12)}"


def add_upstream(gateway: Gateway, groq: FakeProvider, **fields) -> dict:
    body = {"provider": "groq", "base_url": groq.base_url, "api_key": new_key(), **fields}
    return gateway.api.call("POST", "/upstreams", body)["upstream"]


def add_price(gateway: Gateway, provider: str, model: str) -> None:
    prices = gateway.api.call("GET", "/pricing")["prices"]
    rows = [{k: v for k, v in p.items() if k != "updated_at"} for p in prices]
    rows.append({"provider": provider, "model": model, "input": 0.59, "output": 0.79})
    gateway.api.call("PUT", "/pricing", {"prices": rows})


def row_of(page: Page, upstream_id: str) -> Locator:
    return page.locator(f"tr[data-upstream-id='{upstream_id}']")


def stored(gateway: Gateway) -> dict[str, dict]:
    upstreams = gateway.api.call("GET", "/upstreams")["upstreams"]
    return {u["id"]: u for u in upstreams if not u["read_only"]}


def test_add_an_upstream_its_key_is_never_shown_and_its_test_answers(
    page: Page, gateway: Gateway, groq: FakeProvider
) -> None:
    key = new_key()
    sign_in(page, gateway.password)
    open_panel(page, "Upstreams")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Add upstream"))
    # The wire API follows the provider's name until the operator picks one.
    form.get_by_label("Provider").fill("anthropic")
    expect(form.get_by_label("Wire API")).to_have_value("anthropic")
    form.get_by_label("Provider").fill("groq")
    expect(form.get_by_label("Wire API")).to_have_value("openai")
    form.get_by_label("Base URL").fill(groq.base_url)
    expect(form.get_by_label("API key")).to_have_attribute("type", "password")
    form.get_by_label("API key").fill(key)
    form.get_by_label("Label").fill("Groq team")
    form.get_by_label("Models").fill(MODEL)
    form.get_by_label("Priority").fill("5")
    form.get_by_label("Weight").fill("3")
    form.get_by_role("button", name="Add a header").click()
    form.get_by_label("Header 1 name").fill("X-Team")
    form.get_by_label("Header 1 value").fill("browser-tests")
    form.get_by_role("button", name="Add upstream").click()

    notice = page.get_by_role("status").filter(has_text="will never be shown again")
    expect(notice).to_contain_text(f"…{key[-4:]}")
    (added,) = stored(gateway).values()
    assert (added["provider"], added["api"], added["key_last4"]) == ("groq", "openai", key[-4:])
    assert (added["priority"], added["weight"], added["models"]) == (5, 3, [MODEL])
    assert added["header_names"] == ["X-Team"]
    row = row_of(page, added["id"])
    for text in ("groq", "Groq team", "openai", groq.base_url, f"…{key[-4:]}", MODEL, "X-Team"):
        expect(row).to_contain_text(text)
    expect(row.get_by_role("cell").first).to_contain_text("Enabled")
    expect(row).to_contain_text("Priority 5")
    expect(row).to_contain_text("Weight 3")
    expect(form.get_by_label("API key")).to_have_value("")
    assert key not in page.content()
    assert key not in page.evaluate("JSON.stringify({...sessionStorage, ...localStorage})")

    # The test sends one request through this upstream alone, with the model it names.
    row.get_by_role("button", name="Test").click()
    result = page.get_by_role("region", name=f"Test of groq “Groq team” (…{key[-4:]})")
    outcome = result.get_by_test_id("test-outcome")
    expect(outcome).to_contain_text("OK")
    expect(outcome).to_contain_text("Status200")
    expect(outcome).to_contain_text(f"Model{MODEL}")
    expect(outcome).to_contain_text(re.compile(r"Latency\d+ ms"))
    expect(outcome).to_contain_text("Hello from the fake openai!")
    assert key not in page.content()


def test_edit_disable_enable_and_delete_an_upstream(
    page: Page, gateway: Gateway, groq: FakeProvider
) -> None:
    add_price(gateway, "groq", MODEL)
    upstream = add_upstream(gateway, groq, label="Groq main", models=[MODEL])
    _, client_key = gateway.api.create_customer("groq-user")
    sign_in(page, gateway.password)
    open_panel(page, "Upstreams")
    row = row_of(page, upstream["id"])

    # Edit the weight: the key field starts empty, and empty keeps the key.
    row.get_by_role("button", name="Edit").click()
    form = page.locator("form").filter(has=page.get_by_role("button", name="Save upstream"))
    expect(
        page.get_by_role("heading", name=f"Edit upstream groq (…{upstream['key_last4']})")
    ).to_be_visible()
    expect(form.get_by_label("Weight")).to_have_value("1")
    expect(form.get_by_label("API key")).to_have_value("")
    expect(form.get_by_label("Models")).to_have_value(MODEL)
    form.get_by_label("Weight").fill("7")
    form.get_by_role("button", name="Save upstream").click()
    expect(page.get_by_role("status").filter(has_text="is saved")).to_be_visible()
    expect(row).to_contain_text("Weight 7")
    saved = stored(gateway)[upstream["id"]]
    assert (saved["weight"], saved["key_last4"]) == (7, upstream["key_last4"])

    # Replace the key: only its last 4 are shown, the old ones are gone.
    new = new_key()
    row.get_by_role("button", name="Edit").click()
    # The form shows the saved upstream before it is typed in (filling earlier races it).
    expect(form.get_by_label("Weight")).to_have_value("7")
    expect(form.get_by_label("API key")).to_have_value("")
    form.get_by_label("API key").fill(new)
    form.get_by_role("button", name="Save upstream").click()
    expect(row).to_contain_text(f"…{new[-4:]}")
    expect(row).not_to_contain_text(f"…{upstream['key_last4']}")
    assert stored(gateway)[upstream["id"]]["key_last4"] == new[-4:]
    assert new not in page.content()
    assert chat(gateway.url, client_key, provider="groq", model=MODEL)[0] == 200

    # Disabled, no call reaches it (it is groq's only upstream); enabled, they do again.
    row.get_by_role("button", name="Disable").click()
    expect(row.get_by_role("cell").first).to_contain_text("Disabled")
    expect(page.get_by_role("status").filter(has_text="is disabled")).to_contain_text(
        "No other upstream serves groq"
    )
    assert stored(gateway)[upstream["id"]]["enabled"] is False
    assert chat(gateway.url, client_key, provider="groq", model=MODEL)[0] != 200
    row.get_by_role("button", name="Enable").click()
    expect(row.get_by_role("cell").first).to_contain_text("Enabled")
    assert stored(gateway)[upstream["id"]]["enabled"] is True
    assert chat(gateway.url, client_key, provider="groq", model=MODEL)[0] == 200

    # Delete asks first; Escape backs out, confirming removes it.
    row.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete upstream groq “Groq main” (…{new[-4:]})?")
    expect(dialog).to_contain_text("its key is destroyed")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert upstream["id"] in stored(gateway)
    row.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete upstream").click()
    expect(page.get_by_role("status").filter(has_text="is deleted")).to_be_visible()
    expect(row).to_have_count(0)
    assert stored(gateway) == {}


def test_environment_upstreams_are_read_only_but_can_be_tested(
    page: Page, gateway: Gateway
) -> None:
    sign_in(page, gateway.password)
    open_panel(page, "Upstreams")
    row = row_of(page, "env-openai")
    expect(row).to_contain_text("read-only")
    expect(row).to_contain_text("…enai")  # sk-test-openai
    expect(row.get_by_role("button")).to_have_count(1)
    row.get_by_role("button", name="Test").click()
    outcome = page.get_by_role(
        "region", name="Test of openai “environment” (…enai)"
    ).get_by_test_id("test-outcome")
    expect(outcome).to_contain_text("OK")
    expect(outcome).to_contain_text("Status200")
    assert "sk-test-openai" not in page.content()


def test_the_api_s_errors_are_shown_next_to_the_form(page: Page, gateway: Gateway) -> None:
    sign_in(page, gateway.password)
    open_panel(page, "Upstreams")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Add upstream"))
    form.get_by_label("Provider").fill("groq")
    form.get_by_label("Base URL").fill("ftp://files.example.com/v1")
    form.get_by_label("API key").fill(new_key())
    form.get_by_role("button", name="Add upstream").click()
    alert = form.get_by_role("alert")
    expect(alert).to_contain_text("base_url must be an http:// or https:// URL with a host")
    expect(alert).to_contain_text("(400 invalid_request)")
    expect(form.get_by_label("Base URL")).to_have_attribute("aria-invalid", "true")

    # anthropic already speaks Anthropic's format (the environment's upstream): 409.
    form.get_by_label("Provider").fill("anthropic")
    form.get_by_label("Wire API").select_option("openai")
    form.get_by_label("Base URL").fill("https://api.example.com/v1")
    form.get_by_role("button", name="Add upstream").click()
    expect(alert).to_contain_text("already speaks the 'anthropic' wire format")
    expect(alert).to_contain_text("(409 conflict)")
    expect(form.get_by_label("Base URL")).not_to_have_attribute("aria-invalid", "true")
    assert stored(gateway) == {}


def test_new_providers_appear_in_allowlists_and_the_integration_guide(
    page: Page, gateway: Gateway, groq: FakeProvider
) -> None:
    add_price(gateway, "groq", MODEL)
    add_price(gateway, "mistral", "mistral-small")  # priced, but nothing serves it yet
    add_upstream(gateway, groq, label="Groq team", models=["llama-*"])
    retired, _ = gateway.api.create_customer("retired", allowed_providers=["groq", "retired"])
    sign_in(page, gateway.password)

    # A new customer may be limited to groq alone.
    open_panel(page, "Customers")
    checks = page.get_by_role("group", name="Allowed providers").get_by_role("checkbox")
    expect(checks).to_have_count(6)
    names = [label.strip() for label in checks.locator("xpath=..").all_inner_texts()]
    assert names == ["openai", "anthropic", "gemini", "demo", "groq", "mistral"]
    cid = f"groq-only-{secrets.token_hex(3)}"
    page.get_by_label("Customer ID").fill(cid)
    page.get_by_label("Monthly cap (USD)").fill("5")
    page.get_by_role("checkbox", name="groq").check()
    page.get_by_role("button", name="Create customer + issue master key").click()
    key = page.get_by_test_id("secret-key").inner_text()
    assert gateway.api.call("GET", f"/customers/{cid}")["customer"]["allowed_providers"] == ["groq"]
    assert chat(gateway.url, key, provider="groq", model=MODEL)[0] == 200
    assert chat(gateway.url, key)[0] == 403  # openai is not on its list

    # A name the allowlist holds stays listed even when nothing serves or prices it any more.
    select_customer(page, retired["id"])
    open_panel(page, "Billing & controls")
    expect(page.get_by_role("checkbox", name="groq")).to_be_checked()
    expect(page.get_by_role("checkbox", name="retired")).to_be_checked()
    open_panel(page, "Keys")
    expect(page.get_by_role("checkbox", name="groq")).not_to_be_checked()

    # The integration guide names the model as apps call it, and says what serves it.
    open_panel(page, "Integration")
    models = page.get_by_role("region", name="Models")
    page.get_by_placeholder("Filter by provider or model").fill("groq/")
    expect(models.locator(f"tr[data-model='groq/{MODEL}']")).to_contain_text("Groq team")
    page.get_by_placeholder("Filter by provider or model").fill("mistral")
    expect(models.locator("tr[data-model='mistral/mistral-small']")).to_contain_text(
        "no enabled upstream"
    )
    expect(page.locator("main")).to_contain_text("openai, anthropic, gemini, groq")


def test_failover_shows_in_usage_and_in_the_upstreams_health(
    page: Page, gateway: Gateway, groq: FakeProvider
) -> None:
    add_price(gateway, "groq", MODEL)
    # The fake refuses the key "bad-key" (401): that upstream cools down and the next answers.
    refused = add_upstream(gateway, groq, label="Refused key", api_key="bad-key", priority=0)
    live = add_upstream(gateway, groq, label="Groq live", priority=1, models=[MODEL])
    customer, key = gateway.api.create_customer("failover")
    assert chat(gateway.url, key, provider="groq", model=MODEL)[0] == 200
    sign_in(page, gateway.password)

    select_customer(page, customer["id"])
    open_panel(page, "Usage")
    event = page.get_by_role("region", name="Requests").locator("tbody tr")
    expect(event).to_have_count(1)
    expect(event).to_contain_text("Groq live")
    expect(event).to_contain_text("2 attempts")

    open_panel(page, "Upstreams")
    failing = row_of(page, refused["id"])
    expect(failing).to_contain_text("0 % ok")
    expect(failing).to_contain_text("key_refused 1")
    expect(failing).to_contain_text(re.compile(r"cooling until \d\d:\d\d:\d\d UTC"))
    expect(failing).to_contain_text("Last error")
    expect(row_of(page, live["id"])).to_contain_text("100 % ok")
    expect(row_of(page, live["id"])).to_contain_text("1 request")
    screenshot(page, "upstreams")

    # Its test fails with the provider's own answer, the key in it redacted.
    failing.get_by_role("button", name="Test").click()
    outcome = page.get_by_role("region", name="Test of groq “Refused key”").get_by_test_id(
        "test-outcome"
    )
    expect(outcome).to_contain_text("Failed")
    expect(outcome).to_contain_text("Status401")
    expect(outcome).to_contain_text("Incorrect API key provided")
