"""The fake Gemini's `?key=` authentication beside `x-goog-api-key`, raw and via google-genai."""

from __future__ import annotations

import json

from google import genai

from tests.fakes import FakeUpstream
from tests.sdk.conftest import raw_post

BODY = {"contents": [{"role": "user", "parts": [{"text": "hi fake:usage=6,2"}]}]}


async def test_sdk_sends_the_header_not_the_query(
    gemini_fake: FakeUpstream, gem: genai.client.AsyncClient
) -> None:
    response = await gem.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert response.text == "Hello from the fake gemini!"
    request = gemini_fake.requests[-1]
    assert request.headers["x-goog-api-key"] == "test-key"
    assert "key=" not in request.path


async def test_query_key_generate(gemini_fake: FakeUpstream) -> None:
    url = gemini_fake.base_url + "/v1beta/models/gemini-2.5-flash:generateContent?key=k"
    status, _, raw = await raw_post(url, BODY, {})
    assert status == 200
    answer = json.loads(raw)
    assert answer["candidates"][0]["content"]["parts"][0]["text"] == "Hello from the fake gemini!"
    assert answer["usageMetadata"]["promptTokenCount"] == 6
    request = gemini_fake.requests[-1]
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent?key=k"
    assert "x-goog-api-key" not in request.headers


async def test_query_key_stream_sse(gemini_fake: FakeUpstream) -> None:
    url = gemini_fake.base_url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    status, headers, raw = await raw_post(url + "?alt=sse&key=k", BODY, {})
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    chunks = [json.loads(line[6:]) for line in raw.decode().split("\r\n") if line]
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == "Hello from the fake gemini!"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 2
    path = gemini_fake.requests[-1].path
    assert path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=k"


async def test_query_key_bad_or_empty(gemini_fake: FakeUpstream) -> None:
    url = gemini_fake.base_url + "/v1beta/models/gemini-2.5-flash:generateContent"
    status, _, raw = await raw_post(url + "?key=bad-key", BODY, {})
    assert status == 400
    assert json.loads(raw)["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    status, _, raw = await raw_post(url + "?key=", BODY, {})
    assert status == 403
    assert json.loads(raw)["error"]["status"] == "PERMISSION_DENIED"
