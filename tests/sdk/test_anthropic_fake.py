"""The fake Anthropic server, read by the official anthropic SDK."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from tests.fakes import FakeUpstream
from tests.sdk.conftest import (
    UTF8_DIRECTIVE,
    UTF8_TEXT,
    raw_post,
)


async def test_anthropic_non_stream(
    anthropic_fake: FakeUpstream, claude: anthropic.AsyncAnthropic
) -> None:
    message = await claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        system="be brief",
        messages=[
            {"role": "user", "content": "first fake:text=no"},
            {"role": "assistant", "content": "ok"},
            {
                "role": "user",
                "content": "fake:text=Hi_there fake:usage=20,2 fake:cached=7 fake:cache_write=5",
            },
        ],
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hi there"
    assert message.model == "claude-haiku-4-5"
    assert message.stop_reason == "end_turn"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (20, 2)
    assert usage.cache_read_input_tokens == 7
    assert usage.cache_creation_input_tokens == 5
    request = anthropic_fake.requests[-1]
    assert request.path == "/v1/messages"
    # anthropic 2.x sends the key as a bearer token and its own newer API version
    assert request.headers["authorization"] == "Bearer sk-ant-test"
    assert request.headers["anthropic-version"]


async def test_anthropic_stream_events(claude: anthropic.AsyncAnthropic) -> None:
    stream = await claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "fake:usage=11,6 fake:cached=3"}],
        stream=True,
    )
    events = [event async for event in stream]
    types = [e.type for e in events]
    assert types[:2] == ["message_start", "content_block_start"]  # the SDK drops `ping`
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = events[0]
    assert start.type == "message_start"
    assert start.message.usage.input_tokens == 11
    assert start.message.usage.cache_read_input_tokens == 3
    texts = [
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    ]
    assert len(texts) >= 3
    assert "".join(texts) == "Hello from the fake anthropic!"
    delta = events[-2]
    assert delta.type == "message_delta"
    assert delta.usage.output_tokens == 6
    assert delta.delta.stop_reason == "end_turn"


async def test_anthropic_stream_helper_final_message(claude: anthropic.AsyncAnthropic) -> None:
    async with claude.messages.stream(
        model="claude-opus-4-1",
        max_tokens=100,
        messages=[{"role": "user", "content": "fake:usage=30,8 fake:cached=4 fake:cache_write=2"}],
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == final.content[0].text == "Hello from the fake anthropic!"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (30, 8)
    assert (final.usage.cache_read_input_tokens, final.usage.cache_creation_input_tokens) == (4, 2)


@pytest.mark.parametrize(
    ("status", "exc", "kind"),
    [
        (401, anthropic.AuthenticationError, "authentication_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.APIStatusError, "overloaded_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_errors(
    claude: anthropic.AsyncAnthropic,
    status: int,
    exc: type[anthropic.APIStatusError],
    kind: str,
    stream: bool,
) -> None:
    with pytest.raises(exc) as info:
        await claude.messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            messages=[{"role": "user", "content": f"fake:error={status}"}],
            stream=stream,
        )
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict)
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == kind


async def test_anthropic_bad_key(anthropic_fake: FakeUpstream) -> None:
    client = anthropic.AsyncAnthropic(
        base_url=anthropic_fake.base_url, api_key="bad-key", max_retries=0
    )
    with pytest.raises(anthropic.AuthenticationError):
        await client.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    await client.close()


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({}, {}, 401, "x-api-key header is required"),
        ({"x-api-key": "k"}, {}, 400, "anthropic-version: header is required"),
        (
            {"anthropic-version": "2023-06-01"},
            {"max_tokens": None},
            400,
            "max_tokens: Field required",
        ),
        (
            {"anthropic-version": "2023-06-01"},
            {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]},
            400,
            'Unexpected role "system"',
        ),
    ],
)
async def test_anthropic_request_checks(
    anthropic_fake: FakeUpstream,
    headers: dict[str, str],
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    if "anthropic-version" in headers:
        headers = {"x-api-key": "k", **headers}
    full = {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    full.update(body)
    full = {k: v for k, v in full.items() if v is not None}
    got, _, raw = await raw_post(anthropic_fake.base_url + "/v1/messages", full, headers)
    error = json.loads(raw)
    assert got == status
    assert error["type"] == "error"
    assert error["error"]["type"] == (
        "authentication_error" if status == 401 else "invalid_request_error"
    )
    assert message in error["error"]["message"]


async def test_anthropic_mid_stream_error(claude: anthropic.AsyncAnthropic) -> None:
    stream = await claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=10,
        messages=[{"role": "user", "content": "fake:mid-stream-error"}],
        stream=True,
    )
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info:
        async for event in stream:
            seen.append(event.type)
    assert "content_block_delta" in seen and "message_delta" not in seen
    assert isinstance(info.value.body, dict)
    assert info.value.body["error"]["type"] == "overloaded_error"


async def test_anthropic_early_end(claude: anthropic.AsyncAnthropic) -> None:
    stream = await claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=10,
        messages=[{"role": "user", "content": "fake:early-end"}],
        stream=True,
    )
    types = [event.type async for event in stream]
    assert "content_block_delta" in types
    assert "message_delta" not in types and "message_stop" not in types


@pytest.mark.parametrize(
    "directive", [UTF8_DIRECTIVE + " fake:tiny-reads", UTF8_DIRECTIVE + " fake:crlf"]
)
async def test_anthropic_stream_tiny_reads_and_crlf(
    claude: anthropic.AsyncAnthropic, directive: str
) -> None:
    async with claude.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": directive}],
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "text"
    assert final.content[0].text == UTF8_TEXT
    assert final.usage.output_tokens == len(UTF8_TEXT.split())


# --- Gemini -----------------------------------------------------------------------------------
