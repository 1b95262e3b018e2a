"""The fake OpenAI server, read by the official openai SDK."""

from __future__ import annotations

import openai
import pytest

from tests.fakes import FakeUpstream, parse_directives
from tests.sdk.conftest import (
    UTF8_DIRECTIVE,
    UTF8_TEXT,
    raw_post,
)


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
