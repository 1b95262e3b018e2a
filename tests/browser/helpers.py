"""Helpers of the browser tests: the admin API and real client calls over HTTP (stdlib only),
and the steps an operator repeats in the dashboard."""

from __future__ import annotations

import csv
import io
import json
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Download, Page, expect

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One request; (status, parsed JSON body or text). Errors are answers, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    text = raw.decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class AdminApi:
    """The admin API with X-Admin-Password, to set up what a test is not about."""

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url
        self.headers = {"X-Admin-Password": password}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = http(method, f"{self.base_url}/admin/api{path}", body, self.headers)
        assert status in (200, 201, 204), (status, answer)
        return answer

    def create_customer(self, prefix: str = "c", **fields: Any) -> tuple[dict, str]:
        fields.setdefault("id", f"{prefix}-{secrets.token_hex(4)}")
        fields.setdefault("name", "Test customer")
        fields.setdefault("monthly_cap_cents", 1000)
        answer = self.call("POST", "/customers", fields)
        return answer["customer"], answer["key"]["key"]

    def create_key(self, customer_id: str, **fields: Any) -> dict:
        return self.call("POST", f"/customers/{customer_id}/keys", fields)["key"]


def chat(
    base_url: str,
    key: str,
    *,
    text: str = "fake:usage=1000,500",
    provider: str = "openai",
    model: str = "gpt-4o-mini",
    headers: dict[str, str] | None = None,
    max_tokens: int | None = None,
) -> tuple[int, Any]:
    """A real client call: POST /v1/gateway/chat with the key."""
    body: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "messages": [{"role": "user", "content": text}],
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return http(
        "POST",
        f"{base_url}/v1/gateway/chat",
        body,
        {"Authorization": f"Bearer {key}", **(headers or {})},
    )


def error_type(answer: Any) -> str | None:
    return answer.get("error", {}).get("type") if isinstance(answer, dict) else None


def sign_in(page: Page, password: str) -> None:
    page.goto("/admin/")
    page.get_by_label("Admin password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Sections")).to_be_visible()


def open_panel(page: Page, name: str) -> None:
    """Navigate with the sidebar, as an operator would, and wait for the panel's heading."""
    page.get_by_role("navigation", name="Sections").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=2, name=name)).to_be_visible()


def select_customer(page: Page, customer_id: str) -> None:
    """Pick a customer in the Customers panel's table (it is then selected everywhere)."""
    open_panel(page, "Customers")
    page.get_by_role("button", name=f"Select customer {customer_id}").click()
    expect(page.get_by_test_id("selected-customer")).to_contain_text(customer_id)


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """docs/screenshots/<name>.png, shown in the README's Admin dashboard section."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The sidebar is sticky and wide tables scroll sideways: capture both at their start.
    page.evaluate(
        "window.scrollTo(0, 0);"
        " document.querySelectorAll('.table-wrap').forEach((wrap) => { wrap.scrollLeft = 0; })"
    )
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def csv_rows(download: Download) -> list[dict[str, str]]:
    """The rows of a CSV file the browser saved."""
    return list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
