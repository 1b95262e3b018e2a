"""The fake Gemini server, read by the official google-genai SDK."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.fakes import FakeUpstream
from tests.sdk.conftest import (
    UTF8_DIRECTIVE,
    UTF8_TEXT,
    gemini_client,
    raw_post,
)


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
