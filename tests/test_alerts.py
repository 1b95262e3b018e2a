"""Spend alerts: fired by the settlement that crossed a threshold (once per customer, month and
threshold, under concurrency and across two processes), delivered to a real webhook receiver on
127.0.0.1, signed and retried with backoff; the thresholds and webhooks as the admin edits them.

Each request reports 10 + 10 tokens of gpt-4o-mini (750 uc) and, with max_tokens=10, reserves
8 x 15 + 10 x 60 = 720 uc (see test_limits.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import itertools
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy.app import create_app
from tests.conftest import ADMIN_HEADERS, free_port
from tests.gateway_process import GatewayProcess
from tests.helpers import bearer, create_customer
from tests.processes import gateway_env, poll, url_of

COST_UC = 750
BODY = {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 10,
        "messages": [{"role": "user", "content": "fake:usage=10,10"}]}  # fmt: skip


def verify(header: str, body: bytes, secret: str, tolerance_s: int = 300) -> bool:
    """The receiver's check, as docs/api.md shows it (written here independently of the
    gateway's own code)."""
    fields = dict(item.split("=", 1) for item in header.split(","))
    signed = f"{fields['t']}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    recent = abs(time.time() - int(fields["t"])) <= tolerance_s
    return recent and hmac.compare_digest(expected, fields["v1"])


class Receiver:
    """A webhook endpoint on 127.0.0.1: answers 500 to the first `fail_first` requests."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[tuple[dict[str, str], bytes, int]] = []  # headers, body, status
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/kaixu"

    async def handle(self, request: web.Request) -> web.Response:
        status = 500 if len(self.received) < self.fail_first else 200
        self.received.append((dict(request.headers), await request.read(), status))
        return web.Response(status=status, text="ok" if status == 200 else "boom")

    def accepted(self) -> list[dict]:
        return [orjson.loads(body) for _, body, status in self.received if status == 200]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/kaixu", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", hook.port).start()
    yield hook
    await runner.cleanup()


@pytest.fixture
async def alerting(gateway_settings, aiohttp_client, served_apps):
    """The gateway with retries 50 ms apart (doubling), so backoff is seen in a test's time."""
    app = create_app(dataclasses.replace(gateway_settings, alert_retry_base_s=0.05))
    served_apps.append(app)
    return await aiohttp_client(app)


async def add_webhook(client, url: str, **fields) -> dict:
    response = await client.post(
        "/admin/api/alerts/webhooks", json={"url": url, **fields}, headers=ADMIN_HEADERS
    )
    assert response.status == 201, await response.text()
    return (await response.json())["webhook"]


async def chat(client, key: str) -> int:
    response = await client.post("/v1/gateway/chat", json=BODY, headers=bearer(key))
    await response.read()
    return response.status


async def alerts(client, **query) -> list[dict]:
    response = await client.get("/admin/api/alerts", params=query, headers=ADMIN_HEADERS)
    assert response.status == 200, await response.text()
    return (await response.json())["alerts"]


async def test_an_alert_is_signed_retried_with_backoff_and_delivered(
    alerting, receiver, db
) -> None:
    receiver.fail_first = 2
    webhook = await add_webhook(alerting, receiver.url)
    secret = webhook["secret"]
    assert secret.startswith("whsec_")
    customer, key = await create_customer(alerting, monthly_cap_cents=0.01, alert_thresholds=[50])
    for _ in range(6):  # 4,500 uc of 10,000: under 50 %
        assert await chat(alerting, key) == 200
    assert await alerts(alerting) == []
    assert await chat(alerting, key) == 200  # 5,250 uc: this settlement crosses 50 %

    async def delivered() -> bool:
        return len(receiver.received) >= 3

    await poll(delivered, 20, "the third attempt")
    assert [status for *_, status in receiver.received] == [500, 500, 200]
    headers, body, _ = receiver.received[-1]
    assert verify(headers["X-Kaixu-Signature"], body, secret)
    assert not verify(headers["X-Kaixu-Signature"], body.replace(b"50", b"51"), secret)
    assert not verify(headers["X-Kaixu-Signature"], body, "whsec_another")
    assert len({b for _, b, _ in receiver.received}) == 1  # the same body on every attempt
    sent = orjson.loads(body)
    assert sent["kind"] == "threshold" and sent["threshold"] == 50
    assert sent["customer_id"] == customer["id"]
    assert sent["spent_cents"] == 7 * COST_UC / 1e6 and sent["allowance_cents"] == 0.01

    async def recorded() -> bool:
        listed = await alerts(alerting, customer_id=customer["id"])
        return listed[0]["delivery"]["state"] == "delivered"

    await poll(recorded, 10, "the delivery recorded")
    (alert,) = await alerts(alerting, customer_id=customer["id"])
    assert alert["kind"] == "threshold" and alert["threshold"] == 50
    assert alert["delivery"] == {"state": "delivered", "webhooks": 1, "delivered": 1,
                                 "pending": 0, "failed": 0}  # fmt: skip
    attempts = await db.fetch("SELECT status_code, error, at FROM alert_delivery_attempts"
                              " ORDER BY id")  # fmt: skip
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert attempts[0]["error"] == "answered HTTP 500" and attempts[2]["error"] is None
    # Backoff: 50 ms after the first failure, 100 ms after the second.
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095, gaps
    response = await alerting.get(f"/admin/api/alerts/{alert['id']}/deliveries",
                                  headers=ADMIN_HEADERS)  # fmt: skip
    (delivery,) = (await response.json())["deliveries"]
    assert delivery["attempts"] == 3 and delivery["last_status_code"] == 200


async def test_a_delivery_gives_up_a_day_after_its_alert(alerting, receiver, db) -> None:
    receiver.fail_first = 10**6  # never accepts
    await add_webhook(alerting, receiver.url)
    _, key = await create_customer(alerting, monthly_cap_cents=0.001, alert_thresholds=[50])
    assert await chat(alerting, key) == 200  # 750 of 1,000 uc: crosses 50 %

    async def tried_twice() -> bool:
        return len(receiver.received) >= 2

    await poll(tried_twice, 20, "two attempts")
    # As if the alert had fired a day ago: the next failure is the last.
    await db.execute("UPDATE alert_deliveries SET created_at = now() - interval '1 day'")

    async def failed() -> bool:
        return await db.fetchval("SELECT state FROM alert_deliveries") == "failed"

    await poll(failed, 20, "the delivery given up")
    tries = await db.fetchval("SELECT attempts FROM alert_deliveries")
    assert tries == await db.fetchval("SELECT count(*) FROM alert_delivery_attempts") >= 3
    (alert,) = await alerts(alerting)
    assert alert["delivery"]["state"] == "failed" and alert["delivery"]["failed"] == 1


async def test_concurrent_settlements_fire_each_threshold_once(alerting, receiver, db) -> None:
    await add_webhook(alerting, receiver.url)
    await add_webhook(alerting, receiver.url, events=["credit_low"])  # takes none of these
    customer, key = await create_customer(
        alerting, monthly_cap_cents=0.1, alert_thresholds=[10, 20, 30]
    )  # 100,000 uc: 10 % at the 14th request, 30 % at the 40th
    statuses = await asyncio.gather(*(chat(alerting, key) for _ in range(60)))
    assert statuses == [200] * 60

    async def three_delivered() -> bool:
        return len(receiver.accepted()) >= 3

    await poll(three_delivered, 20, "three alerts delivered")
    fired = await alerts(alerting, customer_id=customer["id"])
    assert sorted(a["threshold"] for a in fired) == [10, 20, 30]
    assert [a["id"] for a in fired] == sorted((a["id"] for a in fired), reverse=True)
    assert sorted(a["threshold"] for a in receiver.accepted()) == [10, 20, 30]
    assert await db.fetchval("SELECT count(*) FROM alert_deliveries") == 3
    for alert in fired:  # the settlement that crossed it: the spend just past the threshold
        assert alert["threshold"] / 100 * 0.1 <= alert["spent_cents"]


async def test_credit_low_fires_once_when_the_credit_falls_below_it(alerting, receiver, db) -> None:
    await add_webhook(alerting, receiver.url, events=["credit_low"])
    customer, key = await create_customer(
        alerting, monthly_cap_cents=0, credit_low_cents=0.005, alert_thresholds=[]
    )
    await db.execute("UPDATE customers SET extra_uc = 10000 WHERE id = $1", customer["id"])
    for _ in range(6):  # 10,000 - 6 x 750 = 5,500 uc left: not below 5,000
        assert await chat(alerting, key) == 200
    assert await alerts(alerting) == []
    for _ in range(5):  # 4,750 uc left after the 7th, then less
        assert await chat(alerting, key) == 200

    async def sent() -> bool:
        return len(receiver.accepted()) >= 1

    await poll(sent, 20, "the credit_low alert delivered")
    (alert,) = await alerts(alerting)
    assert alert["kind"] == "credit_low" and alert["threshold"] is None
    # Right after the settlement that took it below: the 7th call's, with any committed in
    # the same batch (calls moments apart are booked together).
    assert (10_000 - 11 * COST_UC) / 1e6 <= alert["extra_cents"] <= (10_000 - 7 * COST_UC) / 1e6
    (body,) = receiver.accepted()
    assert body["kind"] == "credit_low" and body["extra_cents"] == alert["extra_cents"]
    # A top-up and a second fall in the same month: still the one alert.
    await db.execute("UPDATE customers SET extra_uc = 10000 WHERE id = $1", customer["id"])
    for _ in range(8):
        assert await chat(alerting, key) == 200
    assert len(await alerts(alerting)) == 1


async def test_thresholds_are_per_customer_and_editable(alerting, db) -> None:
    customer, key = await create_customer(alerting, monthly_cap_cents=0.01)
    assert customer["alert_thresholds"] == [50, 80, 100]
    assert customer["credit_low_cents"] is None
    path = f"/admin/api/customers/{customer['id']}"
    edit = {"alert_thresholds": [90, 20, 20], "credit_low_cents": 0.5}
    changed = await alerting.patch(path, json=edit, headers=ADMIN_HEADERS)
    assert changed.status == 200, await changed.text()
    body = (await changed.json())["customer"]
    assert body["alert_thresholds"] == [20, 90] and body["credit_low_cents"] == 0.5
    for bad in ([0], [101], [1.5], ["50"], "50", list(range(1, 12)), [True]):
        refused = await alerting.patch(path, json={"alert_thresholds": bad},
                                       headers=ADMIN_HEADERS)  # fmt: skip
        assert refused.status == 400, bad
        assert (await refused.json())["error"]["type"] == "invalid_request"
    refused = await alerting.patch(path, json={"credit_low_cents": -1}, headers=ADMIN_HEADERS)
    assert refused.status == 400
    read = await alerting.get(path, headers=ADMIN_HEADERS)
    assert (await read.json())["customer"]["alert_thresholds"] == [20, 90]
    for _ in range(3):  # 2,250 of 10,000 uc: 20 % crossed, with the edited thresholds
        assert await chat(alerting, key) == 200
    assert [a["threshold"] for a in await alerts(alerting)] == [20]
    await alerting.patch(path, json={"alert_thresholds": []}, headers=ADMIN_HEADERS)
    for _ in range(10):  # past 90 %: no thresholds now
        assert await chat(alerting, key) == 200
    assert [a["threshold"] for a in await alerts(alerting)] == [20]
    audit = await db.fetch("SELECT after FROM audit_log WHERE action = 'customer.update'")
    assert [orjson.loads(e["after"])["alert_thresholds"] for e in audit] == [[20, 90], []]


async def test_bad_webhook_input_is_refused_and_changes_nothing(alerting, receiver, db) -> None:
    url = "/admin/api/alerts/webhooks"
    for bad in (
        {},
        {"url": "ftp://example.com/hook"},
        {"url": "not a url"},
        {"url": "https://user:pw@example.com/hook"},
        {"url": receiver.url, "events": ["nope"]},
        {"url": receiver.url, "events": []},
        {"url": receiver.url, "events": "threshold"},
        {"url": receiver.url, "secret": "short"},
        {"url": receiver.url, "active": "yes"},
        {"url": receiver.url, "colour": "red"},
    ):
        refused = await alerting.post(url, json=bad, headers=ADMIN_HEADERS)
        assert refused.status == 400, bad
        error = (await refused.json())["error"]
        assert error["type"] == "invalid_request" and error["message"]
    listed = await alerting.get(url, headers=ADMIN_HEADERS)
    assert (await listed.json())["webhooks"] == []
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'alert%'") == 0

    given = "a-secret-of-my-own-1234"
    made = await add_webhook(alerting, receiver.url, secret=given, events=["threshold"])
    assert made["secret"] == given and made["events"] == ["threshold"] and made["active"]
    one = f"{url}/{made['id']}"
    for bad in ({"url": "gopher://x"}, {"events": ["x"]}, {"secret": " "}, {"id": "wh_x"}):
        refused = await alerting.patch(one, json=bad, headers=ADMIN_HEADERS)
        assert refused.status == 400, bad
    read = await alerting.get(one, headers=ADMIN_HEADERS)
    shown = (await read.json())["webhook"]
    assert "secret" not in shown  # shown once, on create
    assert shown == {k: v for k, v in made.items() if k != "secret"}
    assert (await alerting.get(f"{url}/wh_nope", headers=ADMIN_HEADERS)).status == 404
    assert (await alerting.delete(f"{url}/wh_nope", headers=ADMIN_HEADERS)).status == 404

    patched = await alerting.patch(one, json={"events": None, "active": False},
                                   headers=ADMIN_HEADERS)  # fmt: skip
    assert (await patched.json())["webhook"]["events"] is None
    assert (await alerting.delete(one, headers=ADMIN_HEADERS)).status == 204
    assert (await alerting.get(one, headers=ADMIN_HEADERS)).status == 404
    actions = await db.fetch("SELECT action, after FROM audit_log WHERE action LIKE 'alert%'"
                             " ORDER BY id")  # fmt: skip
    assert [a["action"] for a in actions] == [
        "alert_webhook.create", "alert_webhook.update", "alert_webhook.delete",
    ]  # fmt: skip
    assert given not in str([dict(a) for a in actions])  # the secret is in no audit entry
    # Viewers read the audit log: a webhook's URL is there only as its origin.
    assert made["url"] not in str([dict(a) for a in actions])
    assert orjson.loads(actions[0]["after"])["url"].endswith("/…")
    bad_query = await alerting.get("/admin/api/alerts?month=2026-13", headers=ADMIN_HEADERS)
    assert bad_query.status == 400


async def test_two_processes_fire_and_deliver_each_alert_once(
    database_url, fakes, receiver, db, tmp_path
) -> None:
    openai = fakes["openai"].base_url
    processes = [
        GatewayProcess(gateway_env(database_url, openai, tmp_path / n, ALERT_RETRY_BASE_S="0.05"))
        for n in ("a", "b")
    ]
    await asyncio.gather(*(asyncio.to_thread(p.start) for p in processes))
    try:
        bases = [url_of(p) for p in processes]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            hook = {"url": receiver.url}
            async with http.post(f"{bases[0]}/admin/api/alerts/webhooks", json=hook,
                                 headers=ADMIN_HEADERS) as made:  # fmt: skip
                assert made.status == 201
            customer = {"monthly_cap_cents": 0.1, "alert_thresholds": [10, 20, 30]}
            async with http.post(f"{bases[1]}/admin/api/customers", json=customer,
                                 headers=ADMIN_HEADERS) as made:  # fmt: skip
                key = (await made.json())["key"]["key"]

            async def one(i: int) -> int:
                async with http.post(f"{bases[i % 2]}/v1/gateway/chat", json=BODY,
                                     headers=bearer(key)) as response:  # fmt: skip
                    return response.status

            assert await asyncio.gather(*(one(i) for i in range(60))) == [200] * 60

            async def delivered() -> bool:
                states = await db.fetch("SELECT state FROM alert_deliveries")
                return len(states) == 3 and all(s["state"] == "delivered" for s in states)

            await poll(delivered, 30, "three alerts delivered")
    finally:
        for process in processes:
            await asyncio.to_thread(process.stop)
    fired = await db.fetch("SELECT threshold FROM alerts ORDER BY threshold")
    assert [f["threshold"] for f in fired] == [10, 20, 30]
    bodies = receiver.accepted()
    assert len(bodies) == len({b["delivery_id"] for b in bodies}) == 3  # each sent once
    assert sorted(b["threshold"] for b in bodies) == [10, 20, 30]
    assert await db.fetchval("SELECT count(*) FROM alert_delivery_attempts") == 3
