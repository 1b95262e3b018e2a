"""The OpenAI Responses API through the gateway (POST /v1/responses), driven by the openai SDK:
passed through to OpenAI, stream and non-stream, billed from response.completed (and
response.incomplete); other providers refused with a clear 400."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from tests.helpers import create_customer


@pytest.fixture
async def client(gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    _, key = await create_customer(gateway)
    async with openai.AsyncOpenAI(base_url=str(gateway.make_url("/v1")), api_key=key,
                                  max_retries=0) as c:  # fmt: skip
        yield c


async def test_responses_create_is_passed_through_and_billed(client, db, fakes) -> None:
    response = await client.responses.create(
        model="gpt-4.1", input="Hi fake:text=Hello_Responses fake:usage=50,6 fake:cached=20",
        previous_response_id=None, store=False,
    )  # fmt: skip
    assert response.output_text == "Hello Responses"
    assert response.usage.input_tokens == 50
    row = await db.fetchrow("SELECT * FROM usage_events")
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (50, 20, 6)
    sent = fakes["openai"].requests[-1]
    assert sent.path == "/v1/responses" and sent.json["store"] is False
    assert sent.json["max_output_tokens"] == 1024  # the server default, sent upstream


async def test_responses_stream_accumulates_and_bills(client, db) -> None:
    async with client.responses.stream(
        model="openai/gpt-4.1", input="Hi fake:text=one_two_three fake:usage=40,3"
    ) as stream:
        final = await stream.get_final_response()
    assert final.output_text == "one two three"
    row = await db.fetchrow("SELECT * FROM usage_events")
    assert (row["status"], row["output_tokens"]) == ("ok", 3)


async def test_an_incomplete_response_is_billed(client, db) -> None:
    response = await client.responses.create(
        model="gpt-4.1", input="long fake:incomplete fake:usage=30,16", max_output_tokens=16
    )
    assert response.status == "incomplete"
    assert (await db.fetchval("SELECT output_tokens FROM usage_events")) == 16


async def test_other_providers_are_refused_before_anything_is_reserved(client, db) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="anthropic/claude-haiku-4-5", input="hi")
    assert caught.value.body["param"] == "model"
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0


async def test_a_failed_stream_ends_with_the_providers_event_and_is_billed(client, db) -> None:
    stream = await client.responses.create(
        model="gpt-4.1", input="Hi fake:text=one_two_three_four fake:mid-stream-error",
        stream=True,
    )  # fmt: skip
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.failed" and "error" not in kinds  # as the provider sent it
    row = await db.fetchrow("SELECT * FROM usage_events")
    assert (row["status"], row["cost_source"]) == ("error", "estimated")
    assert row["output_tokens"] > 0 and row["cost_uc"] > 0
