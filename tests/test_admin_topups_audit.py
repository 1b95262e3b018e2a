"""Manual top-ups raise the allowance at once; every admin write leaves an audit row."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_HEADERS
from tests.helpers import bearer, chat_body, create_customer, create_sub_key

REQUEST = chat_body(
    "openai", "gpt-4o-mini", "fake:usage=10,10", max_tokens=100
)  # reserves 6,120 uc


async def topup(client, cid: str, **body):
    return await client.post(f"/admin/api/customers/{cid}/topups", json=body, headers=ADMIN_HEADERS)


async def test_manual_topup_credits_and_is_listed(client, db) -> None:
    customer, _ = await create_customer(client)
    response = await topup(client, customer["id"], amount_cents=12.5, note="Goodwill credit")
    assert response.status == 201
    body = await response.json()
    assert body["extra_cents"] == 12.5
    assert body["topup"]["amount_cents"] == 12.5 and body["topup"]["source"] == "manual"
    assert body["topup"]["note"] == "Goodwill credit"
    assert body["topup"]["actor"].startswith("admin:password@")
    await topup(client, customer["id"], amount_cents=0.000001)
    assert await db.fetchval("SELECT extra_uc FROM customers") == 12_500_001
    listing = await client.get(
        f"/admin/api/customers/{customer['id']}/topups", headers=ADMIN_HEADERS
    )
    topups = (await listing.json())["topups"]
    assert [t["amount_cents"] for t in topups] == [0.000001, 12.5]  # newest first
    fetched = await client.get(f"/admin/api/customers/{customer['id']}", headers=ADMIN_HEADERS)
    assert (await fetched.json())["customer"]["extra_cents"] == 12.500001


@pytest.mark.parametrize(
    "body",
    [{}, {"amount_cents": 0}, {"amount_cents": -5}, {"amount_cents": "ten"},
     {"amount_cents": 1.0000001}, {"amount_cents": 5, "note": "x" * 501},
     {"amount_cents": 5, "by": "me"}],
)  # fmt: skip
async def test_bad_topups_change_nothing(client, db, body) -> None:
    customer, _ = await create_customer(client)
    response = await topup(client, customer["id"], **body)
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_request"
    assert await db.fetchval("SELECT extra_uc FROM customers") == 0
    assert await db.fetchval("SELECT count(*) FROM topups") == 0
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'topup.create'") == 0


async def test_topup_for_unknown_customer_is_404(client) -> None:
    response = await topup(client, "nobody", amount_cents=5)
    assert response.status == 404


async def test_credit_applies_on_the_very_next_request(gateway) -> None:
    customer, key = await create_customer(gateway, monthly_cap_cents=0)
    refused = await gateway.post("/v1/gateway/chat", json=REQUEST, headers=bearer(key))
    assert refused.status == 402
    assert (await topup(gateway, customer["id"], amount_cents=0.01)).status == 201
    answer = await gateway.post("/v1/gateway/chat", json=REQUEST, headers=bearer(key))
    assert answer.status == 200
    assert (await answer.json())["month"]["extra_cents"] == 0.01 - 0.00075


async def audit_entries(client, **query) -> list[dict]:
    response = await client.get("/admin/api/audit", params=query, headers=ADMIN_HEADERS)
    assert response.status == 200
    return (await response.json())["entries"]


async def test_every_admin_write_is_audited_with_before_and_after(gateway) -> None:
    customer, key = await create_customer(gateway, id="acme", monthly_cap_cents=100)
    cid = customer["id"]
    await gateway.patch(f"/admin/api/customers/{cid}", json={"plan": "pro"}, headers=ADMIN_HEADERS)
    sub = await create_sub_key(gateway, cid, label="ci", max_devices=1)
    await gateway.patch(
        f"/admin/api/keys/{sub['id']}", json={"label": "ci-2"}, headers=ADMIN_HEADERS
    )
    rotated = await gateway.post(f"/admin/api/keys/{sub['id']}/rotate", headers=ADMIN_HEADERS)
    new_id = (await rotated.json())["key"]["id"]
    await gateway.post(f"/admin/api/keys/{new_id}/revoke", headers=ADMIN_HEADERS)
    await topup(gateway, cid, amount_cents=5)
    headers = {**bearer(key), "X-Kaixu-Install-Id": "laptop"}
    await gateway.post("/v1/gateway/chat", json=REQUEST, headers=headers)
    devices = await gateway.get(f"/admin/api/customers/{cid}/devices", headers=ADMIN_HEADERS)
    device_id = (await devices.json())["devices"][0]["id"]
    await gateway.post(f"/admin/api/devices/{device_id}/revoke", headers=ADMIN_HEADERS)
    prices = await (await gateway.get("/admin/api/pricing", headers=ADMIN_HEADERS)).json()
    table = [{k: v for k, v in p.items() if k != "updated_at"} for p in prices["prices"]]
    await gateway.put("/admin/api/pricing", json={"prices": table[:-1]}, headers=ADMIN_HEADERS)

    entries = await audit_entries(gateway)
    actions = [e["action"] for e in reversed(entries)]
    assert actions == [
        "customer.create", "customer.update", "key.create", "key.update", "key.rotate",
        "key.revoke", "topup.create", "device.revoke", "pricing.replace",
    ]  # fmt: skip
    by_action = {e["action"]: e for e in entries}
    update = by_action["customer.update"]
    assert update["before"]["plan"] == "default" and update["after"]["plan"] == "pro"
    assert update["actor"] == "admin:password" and update["address"] == "127.0.0.1"
    assert update["customer_id"] == cid and update["target"] == cid and update["at"]
    assert by_action["key.rotate"]["target"] == sub["id"]
    assert by_action["key.rotate"]["after"]["new"]["id"] == new_id
    assert by_action["key.revoke"]["before"]["revoked_at"] is None
    assert by_action["key.revoke"]["after"]["revoked_at"] is not None
    assert by_action["topup.create"]["after"]["extra_cents"] == 5
    assert len(by_action["pricing.replace"]["before"]["prices"]) == len(table)
    assert len(by_action["pricing.replace"]["after"]["prices"]) == len(table) - 1
    assert "key" not in by_action["key.create"]["after"]  # never the plaintext key
    assert "kx_" not in str(entries)

    only_acme = await audit_entries(gateway, customer_id=cid)
    assert {e["customer_id"] for e in only_acme} == {cid}
    assert len(only_acme) == len(entries) - 1  # all but the pricing change


async def test_audit_pages_newest_first(client) -> None:
    for i in range(5):
        await create_customer(client, id=f"c{i}")
    first = await client.get("/admin/api/audit", params={"limit": 2}, headers=ADMIN_HEADERS)
    page = await first.json()
    assert [e["target"] for e in page["entries"]] == ["c4", "c3"]
    second = await client.get(
        "/admin/api/audit",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=ADMIN_HEADERS,
    )
    assert [e["target"] for e in (await second.json())["entries"]] == ["c2", "c1"]


async def test_failed_writes_leave_no_audit_row(client, db) -> None:
    await create_customer(client, id="dup")
    again = await client.post("/admin/api/customers", json={"id": "dup"}, headers=ADMIN_HEADERS)
    assert again.status == 409
    assert await db.fetchval("SELECT count(*) FROM audit_log") == 1
