"""The providers' own APIs through the gateway, driven by their official SDKs: the anthropic SDK
(passed through to Anthropic, or translated to OpenAI and Gemini, tools and streaming
included) and google-genai (passed through to Gemini). Same keys, limits and billing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anthropic
import pytest
from google import genai
from google.genai import types as genai_types

from tests.helpers import create_customer

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"]},
}  # fmt: skip
MODELS = ["claude-haiku-4-5", "openai/gpt-4o-mini", "gemini/gemini-2.5-flash"]


@pytest.fixture
async def key(gateway) -> str:
    return (await create_customer(gateway))[1]


@pytest.fixture
async def claude(gateway, key) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(
        base_url=str(gateway.make_url("/anthropic")), api_key=key, max_retries=0
    )
    yield client
    await client.close()


@pytest.mark.parametrize("model", MODELS)
async def test_anthropic_messages_create_and_billing(claude, db, fakes, model) -> None:
    message = await claude.messages.create(
        model=model, max_tokens=200,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Hi fake:text=Hello_there fake:usage=40,7"}],
    )  # fmt: skip
    assert message.content[0].text == "Hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 7
    row = await db.fetchrow("SELECT * FROM usage_events")
    assert (row["status"], row["output_tokens"], row["cost_source"]) == ("ok", 7, "reported")
    provider = model.partition("/")[0] if "/" in model else "anthropic"
    assert row["provider"] == provider and len(fakes[provider].requests) == 1


@pytest.mark.parametrize("model", MODELS)
async def test_anthropic_stream_with_a_tool_like_claude_code(claude, db, fakes, model) -> None:
    async with claude.messages.stream(
        model=model,
        max_tokens=300,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "Weather in Paris? fake:tools=1"}],
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    [tool_use] = [b for b in final.content if b.type == "tool_use"]
    assert tool_use.name == "get_weather" and tool_use.input == {"city": "city-value"}

    follow = await claude.messages.create(
        model=model, max_tokens=300, tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Weather in Paris? fake:tools=1"},
            {"role": "assistant", "content": [b.model_dump() for b in final.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id,
                                          "content": "sunny"}]},
        ],
    )  # fmt: skip
    assert follow.content[0].text == "Tool results: sunny"
    if "/" not in model:  # passed through: the beta header and the body as they came
        first = fakes["anthropic"].requests[0]
        assert first.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
        assert first.json["tools"] == [WEATHER]
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 2


async def test_unknown_anthropic_fields_are_forwarded_and_refusals_passed_on(claude, fakes) -> None:
    message = await claude.messages.create(
        model="claude-haiku-4-5", max_tokens=50,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"context_management": {"edits": []}},
    )  # fmt: skip
    assert message.content
    assert fakes["anthropic"].requests[-1].json["context_management"] == {"edits": []}
    with pytest.raises(anthropic.BadRequestError):
        await claude.messages.create(
            model="claude-haiku-4-5", max_tokens=50,
            messages=[{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}],
        )  # fmt: skip


async def test_anthropic_errors_are_anthropics(gateway, claude) -> None:
    wrong = "kx_0123456789abcdef_" + "A" * 43
    bad = anthropic.AsyncAnthropic(base_url=str(gateway.make_url("/anthropic")), api_key=wrong,
                                   max_retries=0)  # fmt: skip
    with pytest.raises(anthropic.AuthenticationError):
        await bad.messages.create(model="claude-haiku-4-5", max_tokens=10,
                                  messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    await bad.close()
    body = {"model": "claude-haiku-4-5", "max_tokens": 10**9,
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    response = await gateway.post("/anthropic/v1/messages", json=body,
                                  headers={"x-api-key": claude.api_key})  # fmt: skip
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_request_error"


async def test_a_capped_customer_gets_a_402_the_sdk_raises(gateway, db) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=0)
    client = anthropic.AsyncAnthropic(base_url=str(gateway.make_url("/anthropic")), api_key=key,
                                      max_retries=0)  # fmt: skip
    with pytest.raises(anthropic.APIStatusError) as caught:
        await client.messages.create(model="claude-haiku-4-5", max_tokens=10,
                                     messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    assert caught.value.status_code == 402
    assert caught.value.body["error"]["type"] == "billing_error"
    await client.close()
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0


def genai_client(gateway, key: str) -> genai.client.AsyncClient:
    options = genai_types.HttpOptions(
        base_url=str(gateway.make_url("/gemini")), api_version="v1beta",
        retry_options=genai_types.HttpRetryOptions(attempts=1),
    )  # fmt: skip
    return genai.Client(api_key=key, http_options=options).aio


async def test_google_genai_generate_content_and_stream(gateway, key, db, fakes) -> None:
    client = genai_client(gateway, key)
    answer = await client.models.generate_content(
        model="gemini-2.5-flash", contents="Hi fake:text=Hello_Gemini fake:usage=30,5"
    )
    assert answer.text == "Hello Gemini"
    streamed = await client.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Hi fake:text=one_two_three fake:usage=30,5"
    )
    chunks = [c async for c in streamed]
    assert "".join(c.text or "" for c in chunks) == "one two three"
    await client.aclose()
    rows = await db.fetch("SELECT * FROM usage_events ORDER BY id")
    assert [(r["input_tokens"], r["output_tokens"], r["status"]) for r in rows] == [
        (30, 5, "ok"), (30, 5, "ok")]  # fmt: skip
    sent = fakes["gemini"].requests[-1]
    assert sent.path.endswith(":streamGenerateContent?alt=sse")
    assert sent.json["generationConfig"]["maxOutputTokens"] == 1024  # the server default, sent
    assert sent.headers["x-goog-api-key"] == "gemini-test-key"  # ours, never the client's


async def test_gemini_key_in_the_query_works_and_is_not_logged(gateway, key, caplog) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    response = await gateway.post(
        f"/gemini/v1beta/models/gemini-2.5-flash:generateContent?key={key}", json=body
    )
    assert response.status == 200
    assert key not in caplog.text
    refused = await gateway.post("/gemini/v1beta/models/gemini-2.5-flash:generateContent",
                                 json=body)  # fmt: skip
    assert refused.status == 401
    assert (await refused.json())["error"]["status"] == "UNAUTHENTICATED"


async def test_count_tokens_is_forwarded_or_estimated_and_never_billed(claude, db, fakes):
    counted = await claude.messages.count_tokens(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi fake:usage=321,1"}]
    )
    assert counted.input_tokens == 321  # Anthropic's own count
    assert fakes["anthropic"].requests[-1].path == "/v1/messages/count_tokens"
    estimated = await claude.messages.count_tokens(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x" * 400}]
    )
    assert 100 <= estimated.input_tokens <= 120  # the gateway's estimate
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0


async def test_count_tokens_is_rate_limited(gateway) -> None:
    _, key = await create_customer(gateway, rpm_limit=2)
    client = anthropic.AsyncAnthropic(base_url=str(gateway.make_url("/anthropic")), api_key=key,
                                      max_retries=0)  # fmt: skip
    ask = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(2):
        await client.messages.count_tokens(**ask)
    with pytest.raises(anthropic.RateLimitError) as caught:
        await client.messages.count_tokens(**ask)
    assert int(caught.value.response.headers["retry-after"]) >= 1
    await client.close()


@pytest.mark.parametrize(
    ("path", "body"),
    [("/anthropic/v1/messages",
      {"model": "claude-haiku-4-5", "max_tokens": 100, "stream": True,
       "messages": [{"role": "user", "content": "fake:stall=0.5 fake:text=one_two_three_four"}]}),
     ("/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent",
      {"contents": [{"role": "user",
                     "parts": [{"text": "fake:stall=0.5 fake:text=one_two_three_four"}]}]})],
    ids=["anthropic", "gemini"],
)  # fmt: skip
async def test_a_client_gone_mid_stream_leaves_one_billed_row(gateway, key, db, path, body):
    response = await gateway.post(path, json=body, headers={"x-api-key": key,
                                                             "x-goog-api-key": key})  # fmt: skip
    assert response.status == 200
    await response.content.readuntil(b"one")  # the first text has arrived
    response.close()  # the client goes away while the provider is still producing

    async def settled() -> bool:
        return await db.fetchval("SELECT count(*) FROM usage_events") == 1

    for _ in range(200):
        if await settled():
            break
        await asyncio.sleep(0.02)
    row = await db.fetchrow("SELECT * FROM usage_events")
    assert (row["status"], row["cost_source"]) == ("aborted", "estimated")
    assert row["cost_uc"] > 0
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0
