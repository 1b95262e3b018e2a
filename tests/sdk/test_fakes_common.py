"""Behaviour every fake shares: cut connections, header auth, the standalone runner."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

import aiohttp
import openai
import pytest

from tests.fakes import FakeUpstream
from tests.sdk.conftest import (
    REPO_ROOT,
    raw_post,
)


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
            "openai",
            "/v1/responses",
            {"model": "m", "stream": True, "input": "fake:cut"},
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
