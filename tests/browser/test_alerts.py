"""Alerts in the dashboard: an owner adds a webhook (its secret shown once), a customer's
thresholds are edited in Billing & controls, and the alert a real call fires shows as delivered."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Gateway
from tests.browser.helpers import chat, open_panel, select_customer, sign_in


class Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []  # (signature, body) of each POST

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.headers["X-Kaixu-Signature"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def verified(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (docs/api.md, Alerts): recompute the HMAC over `t.body`."""
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


def test_a_webhook_receives_the_alert_a_call_fires_and_the_panel_shows_it(
    page: Page, gateway: Gateway, receiver: str
) -> None:
    customer, key = gateway.api.create_customer("alerted", monthly_cap_cents=0.08)
    sign_in(page, gateway.password)

    # The customer's thresholds, edited where its policy is.
    select_customer(page, customer["id"])
    open_panel(page, "Billing & controls")
    page.get_by_label("Alert thresholds (%)").fill("50, 90")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Saved: alert_thresholds.")).to_be_visible()
    assert gateway.api.call("GET", f"/customers/{customer['id']}")["customer"][
        "alert_thresholds"
    ] == [50, 90]

    open_panel(page, "Alerts")
    page.get_by_label("Webhook URL").fill(receiver)
    page.get_by_label("Credit running low").uncheck()
    page.get_by_role("button", name="Add webhook").click()
    secret = page.get_by_test_id("webhook-secret").inner_text()
    expect(page.locator(f"tr[data-webhook='{receiver}']")).to_contain_text("threshold")

    status, answer = chat(gateway.url, key)  # 0.045 cents of 0.08: past 50 %, short of 90 %
    assert status == 200, answer
    deadline = time.monotonic() + 30
    while not Receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(Receiver.received) == 1
    header, body = Receiver.received[0]
    assert verified(secret, header, body)
    sent = json.loads(body)
    assert sent["customer_id"] == customer["id"] and sent["threshold"] == 50

    page.get_by_role("button", name="Refresh").click()
    row = page.locator("tr[data-alert]").filter(has_text=customer["id"])
    expect(row).to_contain_text("50 % of the allowance")
    expect(row).to_contain_text("1/1 delivered")
