"""Immediate cutoff: revoking or rotating a key, or deactivating its customer, ends the key's
running streams within a second on every process, with an error event, billed (issue 12)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import ADMIN_HEADERS
from tests.processes import Stream, new_key, settled, two_gateways

LONG = "fake:usage=5,5 fake:stall=60"


@pytest.fixture
async def two(database_url, fakes, tmp_path):
    async with two_gateways(database_url, fakes["openai"].base_url, tmp_path) as both:
        yield both


async def admin(http, base: str, method: str, path: str, **body) -> int:
    async with http.request(method, f"{base}/admin/api{path}", json=body or None,
                            headers=ADMIN_HEADERS) as response:  # fmt: skip
        return response.status


async def key_id_of(http, base: str, customer_id: str) -> str:
    async with http.get(f"{base}/admin/api/customers/{customer_id}/keys",
                        headers=ADMIN_HEADERS) as response:  # fmt: skip
        return (await response.json())["keys"][0]["id"]


@pytest.mark.parametrize(
    "action",
    [
        lambda cid, kid: ("POST", f"/keys/{kid}/revoke", {}),
        lambda cid, kid: ("POST", f"/keys/{kid}/rotate", {}),
        lambda cid, kid: ("PATCH", f"/customers/{cid}", {"active": False}),
    ],
    ids=["revoke", "rotate", "deactivate"],
)
async def test_running_streams_end_within_a_second_on_every_process(two, db, action) -> None:
    http, (a, b) = two
    cid, key = await new_key(http, a)
    other_cid, other_key = await new_key(http, a)
    streams = [Stream(http, base, key, LONG) for base in (a, b)]
    bystander = Stream(http, a, other_key, "fake:usage=5,5 fake:stall=3")
    await asyncio.gather(*(s.started.wait() for s in (*streams, bystander)))

    method, path, body = action(cid, await key_id_of(http, a, cid))
    assert await admin(http, b, method, path, **body) in (200, 201)
    for stream in streams:
        # Uncut, the stream would run for another minute.
        events = await asyncio.wait_for(stream.events(), 5)
        name, data = events[-1]
        assert name == "error"
        ended = json.loads(data)
        assert ended["error"]["type"] == "unauthorized"
        assert ended["usage"]["output_tokens"] > 0 and "month" in ended
    assert [name for name, _ in await bystander.events()][-1] == "done"  # another customer

    await settled(db)
    rows = await db.fetch("SELECT customer_id, status FROM usage_events")
    assert sorted((r["customer_id"], r["status"]) for r in rows) == sorted(
        [(cid, "error"), (cid, "error"), (other_cid, "ok")]
    )
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0
