"""Rotating KAIXU_SECRET: with the old one in KAIXU_SECRET_PREVIOUS, client keys keep working
(each moves to the new secret on first use) and stored upstream keys still open; after
`upstreams reencrypt` the old secret can go."""

from __future__ import annotations

import dataclasses

import asyncpg

from core.settings import Settings
from proxy.app import create_app
from proxy.infra.secretbox import SecretBox
from proxy.upstreams.reseal import reseal_all
from tests.fakes import FakeUpstream
from tests.helpers import ADMIN_HEADERS, bearer, chat_body, create_customer
from tests.test_upstreams import add_upstream, new_key, put_price

OLD, NEW = "old-secret-" + "o" * 40, "new-secret-" + "n" * 40
MODEL = "llama-3.3-70b-versatile"


async def calls_work(client, key: str) -> bool:
    body = chat_body("groq", MODEL, "fake:text=still_here")
    response = await client.post("/v1/gateway/chat", json=body, headers=bearer(key))
    return response.status == 200 and (await response.json())["text"] == "still here"


async def test_rotating_the_secret_keeps_client_and_upstream_keys(
    gateway_settings: Settings, aiohttp_client, db: asyncpg.Connection
) -> None:
    def app(secret: str, *previous: str):
        settings = dataclasses.replace(gateway_settings, secret=secret, secret_previous=previous)
        return aiohttp_client(create_app(settings))

    async with FakeUpstream("openai") as groq:
        before = await app(OLD)
        await put_price(before, "groq", MODEL)
        added = await add_upstream(before, provider="groq", base_url=groq.base_url,
                                   api_key=new_key())  # fmt: skip
        _, key = await create_customer(before)
        assert await calls_work(before, key)
        old_hash = await db.fetchval("SELECT secret_hash FROM api_keys")

        during = await app(NEW, OLD)
        assert await calls_work(during, key)
        assert await db.fetchval("SELECT secret_hash FROM api_keys") != old_hash  # moved

        done = await reseal_all(gateway_settings.database_url or "", SecretBox(NEW, (OLD,)))
        assert done.moved == [added["id"]] and done.unreadable == []
        again = await reseal_all(gateway_settings.database_url or "", SecretBox(NEW, (OLD,)))
        assert again.moved == [] and again.current == [added["id"]]

        after = await app(NEW)
        assert await calls_work(after, key)
        assert len(groq.requests) == 3

    # The old secret alone opens nothing any more: the upstream is listed, but not routed to.
    stale = await app(OLD)
    listed = await stale.get("/admin/api/upstreams", headers=ADMIN_HEADERS)
    assert added["id"] in {u["id"] for u in (await listed.json())["upstreams"]}
    test = await stale.post(f"/admin/api/upstreams/{added['id']}/test", json={},
                            headers=ADMIN_HEADERS)  # fmt: skip
    assert test.status == 409
