"""Fixtures for the proofs that each fake provider speaks its real wire format: the official
SDKs pointed at the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from tests.fakes import FakeUpstream

REPO_ROOT = Path(__file__).resolve().parents[2]
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
