"""Proves the fake upstreams speak the real wire formats: the official SDKs parse their output."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.fakes import FakeUpstream, parse_directives

REPO_ROOT = Path(__file__).resolve().parent.parent
UTF8_TEXT = "héllo wörld ✓ ünïcödé ☃ end"
UTF8_DIRECTIVE = "fake:text=" + UTF8_TEXT.replace(" ", "_")


async def started(provider: str) -> FakeUpstream:
    fake = FakeUpstream(provider)
    await fake.start()
    return fake


@pytest.fixture
async def openai_fake() -> AsyncIterator[FakeUpstream]:
    fake = await started("openai")
    yield fake
    await fake.close()


@pytest.fixture
async def anthropic_fake() -> AsyncIterator[FakeUpstream]:
    fake = await started("anthropic")
    yield fake
    await fake.close()


@pytest.fixture
async def gemini_fake() -> AsyncIterator[FakeUpstream]:
    fake = await started("gemini")
    yield fake
    await fake.close()


@pytest.fixture
async def oai(openai_fake: FakeUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=openai_fake.base_url, api_key="sk-test", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def claude(anthropic_fake: FakeUpstream) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(
        base_url=anthropic_fake.base_url, api_key="sk-ant-test", max_retries=0
    )
    yield client
    await client.close()


def gemini_client(fake: FakeUpstream, api_key: str = "test-key") -> genai.client.AsyncClient:
    options = genai_types.HttpOptions(
        base_url=fake.base_url,
        api_version="v1beta",  # google-genai 3.x defaults to v1
        retry_options=genai_types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key=api_key, http_options=options).aio


@pytest.fixture
async def gem(gemini_fake: FakeUpstream) -> AsyncIterator[genai.client.AsyncClient]:
    client = gemini_client(gemini_fake)
    yield client
    await client.aclose()


async def raw_post(
    url: str, body: Any, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.read()


# --- directives -------------------------------------------------------------------------------


def test_directives_parse_and_defaults() -> None:
    d = parse_directives("hi fake:text=a_b_c fake:usage=7,2 fake:cached=3 fake:slow=0.5", "x y")
    assert (d.text, d.input_tokens, d.output_tokens, d.cached, d.slow) == ("a b c", 7, 2, 3, 0.5)
    d = parse_directives("fake:bogus fake:usage=oops fake:cut", "one two three")
    assert (d.text, d.input_tokens, d.output_tokens, d.cut) == ("one two three", 10, 3, True)


# --- OpenAI -----------------------------------------------------------------------------------


async def test_openai_non_stream(openai_fake: FakeUpstream, oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "be brief fake:text=ignored"},
            {"role": "user", "content": "hi fake:text=Hi_there fake:usage=12,3"},
        ],
        max_completion_tokens=50,
    )
    assert completion.choices[0].message.content == "Hi there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    assert completion.usage.total_tokens == 15
    request = openai_fake.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json["max_completion_tokens"] == 50


async def test_openai_default_text_usage_and_unknown_model(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(
        model="my-model",
        messages=[{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        max_tokens=5,
    )
    assert completion.choices[0].message.content == "Hello from the fake openai!"
    assert completion.model == "my-model-2025-01-01"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (10, 5)


async def test_openai_cached_and_reasoning(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(
        model="o3-mini",
        messages=[
            {"role": "user", "content": "fake:usage=100,40 fake:cached=60 fake:reasoning=30"}
        ],
    )
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 40, 140)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 60
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 30
    assert completion.model == "o3-mini-2025-01-31"


async def test_openai_stream_with_usage(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "fake:usage=9,4 fake:cached=2 fake:reasoning=1"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(deltas) >= 3
    assert "".join(deltas) == "Hello from the fake openai!"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"
    final = chunks[-1]
    assert final.choices == []
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (9, 4)
    assert final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens_details.cached_tokens == 2
    assert final.usage.completion_tokens_details is not None
    assert final.usage.completion_tokens_details.reasoning_tokens == 1
    assert final.model == "gpt-4o-2024-08-06"


async def test_openai_stream_without_usage(openai_fake: FakeUpstream) -> None:
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": "Bearer k"}
    status, resp_headers, raw = await raw_post(
        openai_fake.base_url + "/chat/completions", body, headers
    )
    assert status == 200
    assert resp_headers["Content-Type"].startswith("text/event-stream")
    assert b'"usage"' not in raw
    assert raw.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize(
    ("status", "exc", "code"),
    [
        (401, openai.AuthenticationError, "invalid_api_key"),
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (500, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, None),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_openai_errors(
    oai: openai.AsyncOpenAI,
    status: int,
    exc: type[openai.APIStatusError],
    code: str | None,
    stream: bool,
) -> None:
    with pytest.raises(exc) as info:
        await oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"fake:error={status}"}],
            stream=stream,
        )
    assert info.value.status_code == status
    assert info.value.code == code
    assert isinstance(info.value.body, dict)
    assert set(info.value.body) == {"message", "type", "param", "code"}


async def test_openai_bad_and_missing_key(openai_fake: FakeUpstream) -> None:
    client = openai.AsyncOpenAI(base_url=openai_fake.base_url, api_key="bad-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    await client.close()
    assert info.value.code == "invalid_api_key"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    status, _, raw = await raw_post(openai_fake.base_url + "/chat/completions", body, {})
    assert status == 401
    assert b"You didn't provide an API key" in raw


async def test_openai_mid_stream_error(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "fake:mid-stream-error"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    texts: list[str] = []
    with pytest.raises(openai.APIError, match="server had an error"):
        async for chunk in stream:
            texts.append(chunk.choices[0].delta.content or "")
    assert "".join(texts).startswith("Hello")


async def test_openai_cut_stream(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "fake:cut"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    with pytest.raises(openai.APIConnectionError):
        async for _ in stream:
            pass


async def test_openai_early_end(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "fake:early-end"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]  # ends without an error...
    assert all(c.usage is None for c in chunks)  # ...but with no usage and no finish_reason
    assert all(c.choices[0].finish_reason is None for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert (
        text
        and "Hello from the fake openai!".startswith(text)
        and text != "Hello from the fake openai!"
    )


@pytest.mark.parametrize(
    "directive", [UTF8_DIRECTIVE + " fake:tiny-reads", UTF8_DIRECTIVE + " fake:crlf"]
)
async def test_openai_stream_tiny_reads_and_crlf(oai: openai.AsyncOpenAI, directive: str) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": directive}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == UTF8_TEXT
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(UTF8_TEXT.split())


async def test_openai_crlf_on_the_wire(openai_fake: FakeUpstream) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "fake:crlf"}]}
    _, _, raw = await raw_post(
        openai_fake.base_url + "/chat/completions", body, {"Authorization": "Bearer k"}
    )
    assert raw.endswith(b"data: [DONE]\r\n\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")


async def test_slow_and_stall_outlast_a_short_client_timeout(openai_fake: FakeUpstream) -> None:
    """Behaviour, not timing: a client that waits less than the fake stalls gives up."""
    client = openai.AsyncOpenAI(
        base_url=openai_fake.base_url, api_key="sk-test", max_retries=0, timeout=0.2
    )
    try:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "fake:slow=2"}]
            )
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "fake:stall=2"}], stream=True
        )
        with pytest.raises(openai.APITimeoutError):
            async for _ in stream:
                pass
    finally:
        await client.close()


# --- Anthropic --------------------------------------------------------------------------------


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


async def test_gemini_non_stream(gemini_fake: FakeUpstream, gem: genai.client.AsyncClient) -> None:
    response = await gem.models.generate_content(
        model="gemini-2.5-flash",
        contents="hi fake:text=Hi_there fake:usage=15,2",
        config=genai_types.GenerateContentConfig(
            system_instruction="be brief", max_output_tokens=50, temperature=0.2
        ),
    )
    assert response.text == "Hi there"
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == genai_types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count) == (15, 2)
    assert usage.total_token_count == 17
    assert usage.cached_content_token_count is None  # zero counts are omitted
    assert usage.thoughts_token_count is None
    assert response.model_version == "gemini-2.5-flash"
    request = gemini_fake.requests[-1]
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "test-key"
    assert request.json["systemInstruction"]["parts"][0]["text"] == "be brief"
    assert request.json["generationConfig"]["maxOutputTokens"] == 50


async def test_gemini_cached_and_thoughts(gem: genai.client.AsyncClient) -> None:
    response = await gem.models.generate_content(
        model="gemini-2.5-pro", contents="fake:usage=100,20 fake:cached=40 fake:reasoning=30"
    )
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count) == (100, 20)
    assert usage.cached_content_token_count == 40
    assert usage.thoughts_token_count == 30
    assert usage.total_token_count == 150
    assert response.text == "Hello from the fake gemini!"


async def test_gemini_stream(gemini_fake: FakeUpstream, gem: genai.client.AsyncClient) -> None:
    stream = await gem.models.generate_content_stream(
        model="gemini-2.0-flash", contents="fake:usage=12,5 fake:cached=4 fake:reasoning=3"
    )
    chunks = [chunk async for chunk in stream]
    assert len(chunks) >= 3
    assert "".join(c.text or "" for c in chunks) == "Hello from the fake gemini!"
    counts = [c.usage_metadata.candidates_token_count for c in chunks if c.usage_metadata]
    assert counts == sorted(counts)  # cumulative, so never to be summed
    last = chunks[-1]
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert last.usage_metadata is not None
    usage = last.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count) == (12, 5)
    assert (usage.cached_content_token_count, usage.thoughts_token_count) == (4, 3)
    path = gemini_fake.requests[-1].path
    assert path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"


async def test_gemini_stream_wire_uses_crlf(gemini_fake: FakeUpstream) -> None:
    url = gemini_fake.base_url + "/v1beta/models/g:streamGenerateContent?alt=sse"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    _, headers, raw = await raw_post(url, body, {"x-goog-api-key": "k"})
    assert headers["Content-Type"].startswith("text/event-stream")
    events = raw.split(b"\r\n\r\n")
    assert len(events) >= 4 and events[-1] == b""
    assert b"[DONE]" not in raw
    body["contents"][0]["parts"][0]["text"] = "fake:lf"
    _, _, raw = await raw_post(url, body, {"x-goog-api-key": "k"})
    assert b"\r" not in raw and raw.endswith(b"}\n\n")


@pytest.mark.parametrize(
    ("status", "exc", "name"),
    [
        (400, genai_errors.ClientError, "INVALID_ARGUMENT"),
        (429, genai_errors.ClientError, "RESOURCE_EXHAUSTED"),
        (500, genai_errors.ServerError, "INTERNAL"),
        (503, genai_errors.ServerError, "UNAVAILABLE"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_errors(
    gem: genai.client.AsyncClient,
    status: int,
    exc: type[genai_errors.APIError],
    name: str,
    stream: bool,
) -> None:
    with pytest.raises(exc) as info:
        if stream:
            async for _ in await gem.models.generate_content_stream(
                model="gemini-2.5-flash", contents=f"fake:error={status}"
            ):
                pass
        else:
            await gem.models.generate_content(
                model="gemini-2.5-flash", contents=f"fake:error={status}"
            )
    assert info.value.code == status
    assert info.value.status == name


async def test_gemini_bad_and_missing_key(gemini_fake: FakeUpstream) -> None:
    client = gemini_client(gemini_fake, api_key="bad-key")
    with pytest.raises(genai_errors.ClientError) as info:
        await client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    await client.aclose()
    assert info.value.code == 400
    assert info.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    url = gemini_fake.base_url + "/v1beta/models/gemini-2.5-flash:generateContent"
    status, _, raw = await raw_post(url, {"contents": [{"parts": [{"text": "hi"}]}]}, {})
    assert status == 403
    assert b"PERMISSION_DENIED" in raw


async def test_gemini_mid_stream_error(gem: genai.client.AsyncClient) -> None:
    texts: list[str] = []
    with pytest.raises(genai_errors.ServerError) as info:
        async for chunk in await gem.models.generate_content_stream(
            model="gemini-2.5-flash", contents="fake:mid-stream-error"
        ):
            texts.append(chunk.text or "")
    assert info.value.code == 500
    assert "".join(texts).startswith("Hello")


async def test_gemini_early_end(gem: genai.client.AsyncClient) -> None:
    chunks = [
        chunk
        async for chunk in await gem.models.generate_content_stream(
            model="gemini-2.5-flash", contents="fake:early-end"
        )
    ]
    assert chunks
    assert all(c.usage_metadata is None for c in chunks)
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks)


@pytest.mark.parametrize(
    "directive", [UTF8_DIRECTIVE + " fake:tiny-reads", UTF8_DIRECTIVE + " fake:lf"]
)
async def test_gemini_stream_tiny_reads_and_lf(
    gem: genai.client.AsyncClient, directive: str
) -> None:
    chunks = [
        chunk
        async for chunk in await gem.models.generate_content_stream(
            model="gemini-2.5-flash", contents=directive
        )
    ]
    assert "".join(c.text or "" for c in chunks) == UTF8_TEXT
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata.candidates_token_count == len(UTF8_TEXT.split())


async def test_gemini_v1_route_and_query_key(gemini_fake: FakeUpstream) -> None:
    url = gemini_fake.base_url + "/v1/models/gemini-2.5-flash:generateContent?key=k"
    status, _, raw = await raw_post(url, {"contents": [{"parts": [{"text": "hi"}]}]}, {})
    assert status == 200
    assert b"Hello from the fake gemini!" in raw


# --- cut streams: the connection drops with the chunked body unterminated ----------------------


@pytest.mark.parametrize(
    ("provider", "path", "body", "headers"),
    [
        (
            "openai",
            "/v1/chat/completions",
            {"model": "m", "stream": True, "messages": [{"role": "user", "content": "fake:cut"}]},
            {"Authorization": "Bearer k"},
        ),
        (
            "anthropic",
            "/v1/messages",
            {
                "model": "m",
                "max_tokens": 5,
                "stream": True,
                "messages": [{"role": "user", "content": "fake:cut"}],
            },
            {"x-api-key": "k", "anthropic-version": "2023-06-01"},
        ),
        (
            "gemini",
            "/v1beta/models/m:streamGenerateContent?alt=sse",
            {"contents": [{"role": "user", "parts": [{"text": "fake:cut"}]}]},
            {"x-goog-api-key": "k"},
        ),
    ],
)
async def test_cut_aborts_the_connection(
    provider: str, path: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    async with FakeUpstream(provider) as fake:
        received = b""
        async with (
            aiohttp.ClientSession() as session,
            session.post(fake.root_url + path, json=body, headers=headers) as resp,
        ):
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                async for piece in resp.content.iter_any():
                    received += piece
        assert b"Hello" in received


async def test_anthropic_accepts_x_api_key(anthropic_fake: FakeUpstream) -> None:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    status, _, raw = await raw_post(anthropic_fake.base_url + "/v1/messages", body, headers)
    assert status == 200
    assert json.loads(raw)["content"][0]["text"] == "Hello from the fake anthropic!"


async def test_standalone_runner() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes",
        "--provider",
        "openai",
        "--port",
        "0",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        base_url = line.decode().split()[-1]
        assert base_url.endswith("/v1")
        client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
        completion = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "fake:text=up"}]
        )
        await client.close()
        assert completion.choices[0].message.content == "up"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
