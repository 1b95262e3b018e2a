"""Upstreams: several keys (and servers) behind one provider name, failover before the first
byte, cool-downs, weights, a new OpenAI-compatible provider, and keys that never leak."""

from __future__ import annotations

import asyncio
import math
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import UPSTREAM_KEY_MARK
from tests.fakes import FakeUpstream
from tests.helpers import ADMIN_HEADERS, bearer, chat_body, create_customer, parse_sse

UPSTREAMS = "/admin/api/upstreams"


def new_key() -> str:
    return UPSTREAM_KEY_MARK + secrets.token_hex(12)


async def add_upstream(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(UPSTREAMS, json=fields, headers=ADMIN_HEADERS)
    assert response.status == 201, await response.text()
    return (await response.json())["upstream"]


async def upstreams(client: TestClient) -> dict[str, dict[str, Any]]:
    response = await client.get(UPSTREAMS, headers=ADMIN_HEADERS)
    assert response.status == 200
    return {u["id"]: u for u in (await response.json())["upstreams"]}


async def usage_rows(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT provider, model, upstream_id, attempts, status, cost_uc FROM usage_events"
        " ORDER BY id"
    )


@pytest.fixture
async def second_openai() -> Any:
    async with FakeUpstream("openai") as fake:
        yield fake


@dataclass
class Backup:
    """A second OpenAI server behind `openai`, tried after the environment's (priority 1)."""

    upstream: dict[str, Any]
    server: FakeUpstream
    key: str  # a customer's client key


@pytest.fixture
async def backup(gateway: TestClient, second_openai: FakeUpstream) -> Backup:
    upstream = await add_upstream(gateway, provider="openai", base_url=second_openai.base_url,
                                  api_key=new_key(), priority=1)  # fmt: skip
    _, key = await create_customer(gateway)
    return Backup(upstream, second_openai, key)


async def chat(client: TestClient, key: str, text: str = "hi", model: str = "gpt-4o-mini"):
    return await client.post(
        "/v1/gateway/chat", json=chat_body("openai", model, text), headers=bearer(key)
    )


async def test_an_upstream_is_added_listed_changed_and_removed_and_its_key_never_shown(
    gateway: TestClient, second_openai: FakeUpstream, db: asyncpg.Connection
) -> None:
    key = new_key()
    added = await add_upstream(
        gateway, provider="openai", base_url=second_openai.base_url + "/", api_key=key,
        label="second key", priority=5, headers={"OpenAI-Organization": "org-kaixu"},
    )  # fmt: skip
    assert added["key_last4"] == key[-4:] and added["base_url"] == second_openai.base_url
    assert added["api"] == "openai" and added["header_names"] == ["OpenAI-Organization"]
    assert added["read_only"] is False and added["enabled"] is True and added["weight"] == 1
    listed = await upstreams(gateway)
    assert listed["env-openai"]["read_only"] is True
    assert listed["env-openai"]["key_last4"] == "enai"  # sk-test-openai
    assert listed[added["id"]]["priority"] == 5
    stored = await db.fetchrow("SELECT key_enc, headers_enc FROM upstreams")
    assert key.encode() not in stored["key_enc"] and b"org-kaixu" not in stored["headers_enc"]
    patch = {"weight": 7, "enabled": False}
    changed = await gateway.patch(f"{UPSTREAMS}/{added['id']}", json=patch, headers=ADMIN_HEADERS)
    assert changed.status == 200
    assert (await changed.json())["upstream"]["weight"] == 7
    refused = await gateway.patch(f"{UPSTREAMS}/env-openai", json={"weight": 2},
                                  headers=ADMIN_HEADERS)  # fmt: skip
    assert refused.status == 409
    # The stored key (and header values) never go to another host unless given again.
    moved = {"base_url": "https://elsewhere.example/v1"}
    away = await gateway.patch(f"{UPSTREAMS}/{added['id']}", json=moved, headers=ADMIN_HEADERS)
    assert away.status == 400 and (await away.json())["error"]["param"] == "api_key"
    moved["api_key"] = new_key()
    away = await gateway.patch(f"{UPSTREAMS}/{added['id']}", json=moved, headers=ADMIN_HEADERS)
    assert away.status == 400 and (await away.json())["error"]["param"] == "headers"
    same_host = {"base_url": second_openai.base_url + "/"}
    kept = await gateway.patch(f"{UPSTREAMS}/{added['id']}", json=same_host,
                               headers=ADMIN_HEADERS)  # fmt: skip
    assert kept.status == 200
    deleted = await gateway.delete(f"{UPSTREAMS}/{added['id']}", headers=ADMIN_HEADERS)
    assert deleted.status == 204
    gone = await gateway.get(f"{UPSTREAMS}/{added['id']}", headers=ADMIN_HEADERS)
    assert gone.status == 404
    actions = await db.fetch("SELECT action, before::text, after::text FROM audit_log"
                             " WHERE action LIKE 'upstream.%' ORDER BY id")  # fmt: skip
    assert [a["action"] for a in actions] == ["upstream.create", "upstream.update",
                                              "upstream.update", "upstream.delete"]  # fmt: skip
    assert not any(key in str(dict(a)) or "org-kaixu" in str(dict(a)) for a in actions)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"base_url": "http://x", "api_key": "k"}, "provider"),
        ({"provider": "Groq!", "base_url": "http://x", "api_key": "k"}, "provider"),
        ({"provider": "demo", "base_url": "http://x", "api_key": "k"}, "provider"),
        ({"provider": "groq", "base_url": "ftp://x", "api_key": "k"}, "base_url"),
        ({"provider": "groq", "base_url": "http://u:p@x", "api_key": "k"}, "base_url"),
        ({"provider": "groq", "base_url": "http://x", "api_key": "a b"}, "api_key"),
        ({"provider": "groq", "base_url": "http://x"}, "api_key"),
        ({"provider": "groq", "base_url": "http://x", "api_key": "k", "api": "soap"}, "api"),
        ({"provider": "groq", "base_url": "http://x", "api_key": "k", "weight": 0}, "weight"),
        ({"provider": "groq", "base_url": "http://x", "api_key": "k", "headers": {"Host": "y"}},
         "headers.Host"),
        ({"provider": "groq", "base_url": "http://x", "api_key": "k", "models": ["a*b"]},
         "models[0]"),
        ({"provider": "groq", "base_url": "http://x", "api_key": "k",
          "headers": {"X-Title": "Kaixù"}}, "headers.X-Title"),
    ],
)  # fmt: skip
async def test_a_bad_upstream_is_a_400_naming_the_field_and_stores_nothing(
    client: TestClient, db: asyncpg.Connection, body: dict[str, Any], param: str
) -> None:
    response = await client.post(UPSTREAMS, json=body, headers=ADMIN_HEADERS)
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert error["type"] == "invalid_request" and error.get("param") == param
    assert "a b" not in error["message"]  # a key is never echoed
    assert await db.fetchval("SELECT count(*) FROM upstreams") == 0


async def test_one_provider_speaks_one_wire_format(gateway: TestClient) -> None:
    body = {"provider": "openai", "api": "anthropic", "base_url": "http://x", "api_key": new_key()}
    response = await gateway.post(UPSTREAMS, headers=ADMIN_HEADERS, json=body)
    assert response.status == 409


async def test_a_429_fails_over_to_the_next_upstream_which_is_billed_and_named(
    gateway: TestClient, fakes: dict[str, FakeUpstream], backup: Backup, db: asyncpg.Connection
) -> None:
    key, second_openai = backup.key, backup.server
    first = fakes["openai"]
    first.fail_next(429, headers={"Retry-After": "30"})
    response = await chat(gateway, key, "fake:text=from_the_backup")
    assert response.status == 200, await response.text()
    assert (await response.json())["text"] == "from the backup"
    assert len(first.requests) == 1 and len(second_openai.requests) == 1
    # While the first cools down (its Retry-After), calls go straight to the second.
    for _ in range(3):
        assert (await chat(gateway, key)).status == 200
    assert len(first.requests) == 1 and len(second_openai.requests) == 4
    rows = await usage_rows(db)
    assert [(r["upstream_id"], r["attempts"], r["status"]) for r in rows] == [
        (backup.upstream["id"], 2, "ok"), *[(backup.upstream["id"], 1, "ok")] * 3]  # fmt: skip
    assert all(r["cost_uc"] > 0 for r in rows)
    health = (await upstreams(gateway))["env-openai"]["health"]
    assert health["cooling_until"] is not None and health["errors_by_kind"] == {"rate_limited": 1}
    metrics = await (await gateway.get("/metrics")).text()
    attempts = 'kaixu_upstream_attempts_total{outcome="%s",provider="openai",upstream="%s"} %s'
    assert attempts % ("rate_limited", "env-openai", "1.0") in metrics
    assert attempts % ("ok", backup.upstream["id"], "4.0") in metrics


async def test_a_cooled_upstream_is_tried_again_once_its_cool_down_ends(
    gateway: TestClient, fakes: dict[str, FakeUpstream], backup: Backup
) -> None:
    key = backup.key
    fakes["openai"].fail_next(503, headers={"Retry-After": "1"})
    assert (await chat(gateway, key)).status == 200
    assert len(fakes["openai"].requests) == 1
    # The preferred upstream recovers by itself: polled, not slept on.
    for _ in range(100):
        assert (await chat(gateway, key)).status == 200
        if len(fakes["openai"].requests) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(fakes["openai"].requests) == 2


async def test_a_connect_error_and_anthropics_529_fail_over(
    gateway: TestClient, fakes: dict[str, FakeUpstream], db: asyncpg.Connection
) -> None:
    _, key = await create_customer(gateway)
    async with FakeUpstream("anthropic") as backup_server:
        await add_upstream(gateway, provider="anthropic", base_url=backup_server.base_url,
                           api_key=new_key(), priority=1)  # fmt: skip
        fakes["anthropic"].fail_next(529)
        body = chat_body("anthropic", "claude-haiku-4-5", "fake:text=overloaded_elsewhere")
        response = await gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
        events = parse_sse(await response.read())
        assert [e for e, _ in events][-1] == "done"
        assert len(backup_server.requests) == 1
    dead = await add_upstream(gateway, provider="deadgroq", base_url="http://127.0.0.1:9",
                              api_key=new_key())  # fmt: skip
    async with FakeUpstream("openai") as live:
        await add_upstream(gateway, provider="deadgroq", base_url=live.base_url,
                           api_key=new_key(), priority=1)  # fmt: skip
        await put_price(gateway, "deadgroq", "llama-3.3-70b-versatile")
        body = chat_body("deadgroq", "llama-3.3-70b-versatile", "hi")
        response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
        assert response.status == 200, await response.text()
        assert len(live.requests) == 1
    rows = await usage_rows(db)
    assert [r["attempts"] for r in rows] == [2, 2]
    assert (await upstreams(gateway))[dead["id"]]["health"]["errors_by_kind"] == {"connect": 1}


async def test_a_client_fault_400_is_not_retried(
    gateway: TestClient, fakes: dict[str, FakeUpstream], backup: Backup, db: asyncpg.Connection
) -> None:
    fakes["openai"].fail_next(400)
    response = await chat(gateway, backup.key)
    assert response.status == 502
    assert "400" in (await response.json())["error"]["message"]
    assert backup.server.requests == []
    rows = await usage_rows(db)
    assert [(r["upstream_id"], r["attempts"], r["status"]) for r in rows] == [
        ("env-openai", 1, "error")]  # fmt: skip
    health = (await upstreams(gateway))["env-openai"]["health"]
    assert health["cooling_until"] is None  # the request's fault, not the upstream's


async def test_a_stream_cut_after_its_first_byte_is_not_retried(
    gateway: TestClient, backup: Backup, db: asyncpg.Connection
) -> None:
    body = chat_body("openai", "gpt-4o-mini", "fake:cut fake:text=one_two_three_four")
    response = await gateway.post("/v1/gateway/stream", json=body, headers=bearer(backup.key))
    events = parse_sse(await response.read())
    assert events[0][0] == "meta" and events[-1][0] == "error"
    assert backup.server.requests == []
    rows = await usage_rows(db)
    assert [(r["upstream_id"], r["attempts"], r["status"]) for r in rows] == [
        ("env-openai", 1, "error")]  # fmt: skip
    assert rows[0]["cost_uc"] > 0  # what was consumed is billed, as before


async def test_weights_split_the_traffic_of_one_priority(
    gateway: TestClient, fakes: dict[str, FakeUpstream], second_openai: FakeUpstream,
) -> None:  # fmt: skip
    """env-openai has weight 1; the second weight 3: 3/4 of 1,000 calls, within 5 sigma."""
    await add_upstream(gateway, provider="openai", base_url=second_openai.base_url,
                       api_key=new_key(), weight=3)  # fmt: skip
    _, key = await create_customer(gateway, monthly_cap_cents=100_000)
    calls = 1000
    for _ in range(calls // 50):
        answers = await asyncio.gather(*(chat(gateway, key) for _ in range(50)))
        assert all(a.status == 200 for a in answers)
    served = Counter({"first": len(fakes["openai"].requests),
                      "second": len(second_openai.requests)})  # fmt: skip
    assert served.total() == calls
    sigma = math.sqrt(calls * 0.75 * 0.25)
    assert abs(served["second"] - 750) < 5 * sigma, served


async def put_price(client: TestClient, provider: str, model: str) -> None:
    response = await client.get("/admin/api/pricing", headers=ADMIN_HEADERS)
    prices = [{k: v for k, v in p.items() if k != "updated_at"}
              for p in (await response.json())["prices"]]  # fmt: skip
    prices.append({"provider": provider, "model": model, "input": 0.59, "output": 0.79})
    response = await client.put("/admin/api/pricing", json={"prices": prices},
                                headers=ADMIN_HEADERS)  # fmt: skip
    assert response.status == 200, await response.text()


async def test_a_new_openai_compatible_provider_works_everywhere_a_provider_does(
    gateway: TestClient, db: asyncpg.Connection
) -> None:
    model = "llama-3.3-70b-versatile"
    async with FakeUpstream("openai") as groq:
        await put_price(gateway, "groq", model)
        await add_upstream(gateway, provider="groq", base_url=groq.base_url, api_key=new_key(),
                           models=["llama-*"])  # fmt: skip
        customer, key = await create_customer(gateway, allowed_providers=["groq"])
        base = str(gateway.make_url("/v1"))
        async with openai.AsyncOpenAI(base_url=base, api_key=key, max_retries=0) as sdk:
            answer = await sdk.chat.completions.create(
                model=f"groq/{model}", messages=[{"role": "user", "content": "fake:text=fast"}]
            )
            assert answer.choices[0].message.content == "fast"
            stream = await sdk.chat.completions.create(
                model=f"groq/{model}", messages=[{"role": "user", "content": "hi"}],
                stream=True, stream_options={"include_usage": True},
            )  # fmt: skip
            chunks = [chunk async for chunk in stream]
            assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
            listed = [m.id async for m in sdk.models.list()]
            assert f"groq/{model}" in listed and not any(m.startswith("openai/") for m in listed)
            with pytest.raises(openai.PermissionDeniedError):  # the allowlist holds
                await sdk.chat.completions.create(
                    model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
            with pytest.raises(openai.BadRequestError):  # no upstream serves it
                await sdk.chat.completions.create(
                    model="groq/mixtral-8x7b", messages=[{"role": "user", "content": "hi"}]
                )
            responses = await sdk.responses.create(model=f"groq/{model}", input="fake:text=r")
            assert responses.output_text == "r"
        messages = await gateway.post(
            "/anthropic/v1/messages", headers={"x-api-key": key},
            json={"model": f"groq/{model}", "max_tokens": 20,
                  "messages": [{"role": "user", "content": "fake:text=translated"}]},
        )  # fmt: skip
        assert messages.status == 200, await messages.text()
        assert (await messages.json())["content"] == [{"type": "text", "text": "translated"}]
        assert groq.requests[0].json["model"] == model  # the prefix is the gateway's, not groq's
        assert [r.path for r in groq.requests][-2:] == ["/v1/responses", "/v1/chat/completions"]
    rows = await usage_rows(db)
    assert [(r["provider"], r["model"], r["status"]) for r in rows] == [("groq", model, "ok")] * 4
    # 10 input tokens at $0.59/1M and 1 output token at $0.79/1M, in micro-cents.
    assert rows[0]["cost_uc"] == 10 * 59 + 79
    cid = customer["id"]
    usage = await gateway.get(f"/admin/api/customers/{cid}/usage", headers=ADMIN_HEADERS)
    assert {e["provider"] for e in (await usage.json())["events"]} == {"groq"}
    month = (await usage.json())["month"]
    invoice = await gateway.post(f"/admin/api/customers/{cid}/invoices", json={"month": month},
                                 headers=ADMIN_HEADERS)  # fmt: skip
    lines = (await invoice.json())["invoice"]["line_items"]
    assert [(line["provider"], line["model"]) for line in lines] == [("groq", model)]
    export = await gateway.get(f"/admin/api/exports/usage.csv?customer_id={cid}",
                               headers=ADMIN_HEADERS)  # fmt: skip
    assert (await export.text()).count(",groq,") == 4


async def test_no_upstream_key_reaches_a_client_even_when_the_upstream_quotes_it(
    gateway: TestClient, fakes: dict[str, FakeUpstream]
) -> None:
    key = new_key()
    async with FakeUpstream("openai") as talkative:
        added = await add_upstream(gateway, provider="echo", base_url=talkative.base_url,
                                   api_key=key)  # fmt: skip
        await put_price(gateway, "echo", "gpt-4o-mini")
        talkative.failing = (401, {})
        talkative.provider.error_response = lambda status: error_quoting(key, status)
        _, client_key = await create_customer(gateway)
        body = chat_body("echo", "gpt-4o-mini", "hi")
        response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(client_key))
        text = await response.text()
        assert response.status == 502 and "[redacted]" in text and key not in text
        test = await gateway.post(f"{UPSTREAMS}/{added['id']}/test", json={},
                                  headers=ADMIN_HEADERS)  # fmt: skip
        result = (await test.json())["result"]
        assert result["ok"] is False and result["status"] == 401
        assert key not in str(result) and "[redacted]" in result["error"]


def error_quoting(key: str, status: int) -> web.Response:
    """What OpenAI answers a wrong key with, the key quoted in full."""
    message = f"Incorrect API key provided: {key}."
    body = {
        "error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}
    }
    return web.json_response(body, status=status)


async def test_the_test_route_calls_that_upstream_alone_and_counts_in_its_health(
    gateway: TestClient, fakes: dict[str, FakeUpstream], backup: Backup
) -> None:
    fakes["openai"].fail_next(503, headers={"Retry-After": "300"})
    assert (await chat(gateway, backup.key)).status == 200  # served by the backup
    assert (await upstreams(gateway))["env-openai"]["health"]["cooling_until"] is not None
    tested = await gateway.post(f"{UPSTREAMS}/env-openai/test", json={}, headers=ADMIN_HEADERS)
    result = (await tested.json())["result"]
    assert result["ok"] is True and result["status"] == 200 and result["text"]
    assert fakes["openai"].requests[-1].json["max_completion_tokens"] == 1
    assert len(fakes["openai"].requests) == 2 and len(backup.server.requests) == 1
    # The fixed upstream is back in use at once: its cool-down ended with the test.
    assert (await upstreams(gateway))["env-openai"]["health"]["cooling_until"] is None
    only_llama = await add_upstream(gateway, provider="openai", base_url=backup.server.base_url,
                                    api_key=new_key(), models=["llama-*"])  # fmt: skip
    refused = await gateway.post(f"{UPSTREAMS}/{only_llama['id']}/test",
                                 json={"model": "gpt-4o"}, headers=ADMIN_HEADERS)  # fmt: skip
    assert refused.status == 400 and (await refused.json())["error"]["param"] == "model"
