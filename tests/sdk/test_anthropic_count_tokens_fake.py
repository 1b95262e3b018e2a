"""The fake Anthropic's `POST /v1/messages/count_tokens` and its header checks, via the SDK."""

from __future__ import annotations

import json
import math
from typing import Any

import anthropic
import orjson
import pytest

from tests.fakes import FakeUpstream
from tests.sdk.conftest import raw_post

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def test_count_tokens_deterministic(
    anthropic_fake: FakeUpstream, claude: anthropic.AsyncAnthropic
) -> None:
    count = await claude.messages.count_tokens(
        model="claude-haiku-4-5",
        system="be brief",
        messages=[{"role": "user", "content": "hello world"}],
    )
    assert count.input_tokens == math.ceil(len("be brief" + "hello world") / 4) + 3
    request = anthropic_fake.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/messages/count_tokens")
    assert request.headers["anthropic-version"]  # the SDK's own version date
    assert "max_tokens" not in request.json


async def test_count_tokens_with_tools_and_a_tool_turn(claude: anthropic.AsyncAnthropic) -> None:
    messages: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "x"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}],
        },
    ]
    count = await claude.messages.count_tokens(
        model="claude-haiku-4-5", messages=messages, tools=[WEATHER]
    )
    chars = len("weather?") + len("get_weather") + len('{"city":"x"}') + len("sunny")
    chars += len(orjson.dumps(WEATHER))
    assert count.input_tokens == math.ceil(chars / 4) + 3 * 3


async def test_count_tokens_from_the_usage_directive(claude: anthropic.AsyncAnthropic) -> None:
    count = await claude.messages.count_tokens(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "long prompt fake:usage=1234,5"}],
    )
    assert count.input_tokens == 1234


async def test_count_tokens_beta_header_is_recorded(
    anthropic_fake: FakeUpstream, claude: anthropic.AsyncAnthropic
) -> None:
    count = await claude.beta.messages.count_tokens(
        model="claude-haiku-4-5",
        messages=[{"role": "user", "content": "hi fake:usage=42,1"}],
        betas=["token-counting-2024-11-01"],
    )
    assert count.input_tokens == 42
    request = anthropic_fake.requests[-1]
    assert request.path.partition("?")[0] == "/v1/messages/count_tokens"
    assert "token-counting-2024-11-01" in request.headers["anthropic-beta"].split(",")


async def test_count_tokens_error_directive(claude: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as info:
        await claude.messages.count_tokens(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "fake:error=429"}]
        )
    assert isinstance(info.value.body, dict)
    assert info.value.body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({}, {}, 401, "x-api-key header is required"),
        ({"x-api-key": "k"}, {}, 400, "anthropic-version: header is required"),
        (HEADERS, {"model": None}, 400, "model: Field required"),
        (HEADERS, {"messages": None}, 400, "messages: Field required"),
        (HEADERS, {"messages": "hi"}, 400, "messages: Input should be a list"),
        (
            HEADERS,
            {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]},
            400,
            'Unexpected role "system"',
        ),
        (
            HEADERS,
            {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
            400,
            "roles must alternate",
        ),
    ],
)
async def test_count_tokens_request_checks(
    anthropic_fake: FakeUpstream,
    headers: dict[str, str],
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    full = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}], **body}
    full = {k: v for k, v in full.items() if v is not None}
    url = anthropic_fake.base_url + "/v1/messages/count_tokens"
    got, resp_headers, raw = await raw_post(url, full, headers)
    error = json.loads(raw)
    assert got == status
    assert error["type"] == "error"
    assert error["error"]["type"] == (
        "authentication_error" if status == 401 else "invalid_request_error"
    )
    assert message in error["error"]["message"]
    assert resp_headers["request-id"] == error["request_id"]
    assert anthropic_fake.requests[-1].path == "/v1/messages/count_tokens"


async def test_messages_without_version_header(anthropic_fake: FakeUpstream) -> None:
    """The SDK always sends anthropic-version; a raw client that forgets it gets the 400."""
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    got, _, raw = await raw_post(
        anthropic_fake.base_url + "/v1/messages", body, {"Authorization": "Bearer k"}
    )
    assert got == 400
    assert json.loads(raw)["error"]["message"] == "anthropic-version: header is required"
    headers = {**HEADERS, "anthropic-beta": "prompt-caching-2024-07-31"}
    got, _, _ = await raw_post(anthropic_fake.base_url + "/v1/messages", body, headers)
    assert got == 200
    assert anthropic_fake.requests[-1].headers["anthropic-beta"] == "prompt-caching-2024-07-31"
