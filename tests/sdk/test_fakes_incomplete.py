"""`fake:incomplete`: a text answer stopped at its output limit, in each provider's own words."""

from __future__ import annotations

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_chat_length(oai: openai.AsyncOpenAI, stream: bool) -> None:
    messages = [{"role": "user", "content": "fake:incomplete"}]
    if not stream:
        completion = await oai.chat.completions.create(model="gpt-4o", messages=messages)
        assert completion.choices[0].finish_reason == "length"
        assert completion.choices[0].message.content == "Hello from the fake openai!"
        return
    chunks = [
        c
        async for c in await oai.chat.completions.create(
            model="gpt-4o", messages=messages, stream=True
        )
    ]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_max_tokens(claude: anthropic.AsyncAnthropic, stream: bool) -> None:
    messages = [{"role": "user", "content": "fake:incomplete"}]
    if not stream:
        message = await claude.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=messages
        )
    else:
        async with claude.messages.stream(
            model="claude-haiku-4-5", max_tokens=5, messages=messages
        ) as events:
            message = await events.get_final_message()
    assert message.stop_reason == "max_tokens"
    assert message.content[0].type == "text"


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_max_tokens(gem: genai.client.AsyncClient, stream: bool) -> None:
    if not stream:
        response = await gem.models.generate_content(
            model="gemini-2.5-flash", contents="fake:incomplete"
        )
    else:
        chunks = [
            c
            async for c in await gem.models.generate_content_stream(
                model="gemini-2.5-flash", contents="fake:incomplete"
            )
        ]
        response = chunks[-1]
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS


async def test_tool_calls_are_not_cut(oai: openai.AsyncOpenAI) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    completion = await oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "fake:incomplete fake:tools=1"}],
        tools=[tool],
    )
    assert completion.choices[0].finish_reason == "tool_calls"
