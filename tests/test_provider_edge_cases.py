"""Wire details real providers send that the fakes do not: each adapter against a scripted body."""

from __future__ import annotations

import orjson
from aiohttp import web

from core.chat import ChatRequest, text_message
from core.events import End, TextDelta, UsageUpdate
from core.usage import Usage
from proxy.providers.anthropic import AnthropicProvider
from proxy.providers.gemini import GeminiProvider
from proxy.providers.openai import OpenAIProvider

REQUEST = ChatRequest("x", "m", (text_message("user", "hi"),), max_tokens=50)


async def scripted(aiohttp_server, body: bytes, content_type: str) -> str:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


def sse(*events: tuple[str | None, dict]) -> bytes:
    out = b""
    for name, data in events:
        if name:
            out += f"event: {name}\n".encode()
        out += b"data: " + orjson.dumps(data) + b"\n\n"
    return out


async def collect(
    provider, request: ChatRequest = REQUEST, *, stream: bool = True
) -> tuple[str, Usage | None, End | None]:
    text, usage, finish = "", None, None
    async for event in provider.events(provider.prepare(request, stream)):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, UsageUpdate):
            usage = event.usage
        elif isinstance(event, End):
            finish = event
    await provider.close()
    return text, usage, finish


async def test_anthropic_text_in_block_start_and_thinking_are_handled(aiohttp_server) -> None:
    body = sse(
        ("message_start", {"type": "message_start", "message": {
            "model": "claude-x", "usage": {"input_tokens": 7, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
                                 "content_block": {"type": "text", "text": "Hel"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "text_delta", "text": "lo"}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 12}}),
        ("message_stop", {"type": "message_stop"}),
    )  # fmt: skip
    base = await scripted(aiohttp_server, body, "text/event-stream")
    text, usage, finish = await collect(AnthropicProvider("anthropic", base, "k", 5, 5))
    assert text == "Hello"  # thinking is billed (output_tokens) but is not answer text
    assert (usage.input_tokens, usage.output_tokens) == (7, 12)
    assert finish == End("end_turn", "claude-x")


async def test_gemini_thought_parts_are_not_answer_text(aiohttp_server) -> None:
    body = sse(
        (None, {"candidates": [{"content": {"parts": [{"text": "plan", "thought": True},
                                                      {"text": "Answer"}]}}],
                "usageMetadata": {"promptTokenCount": 5, "thoughtsTokenCount": 3}}),
        (None, {"candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2,
                                  "thoughtsTokenCount": 3}, "modelVersion": "gemini-x-001"}),
    ).replace(b"\n\n", b"\r\n\r\n")  # fmt: skip
    base = await scripted(aiohttp_server, body, "text/event-stream")
    text, usage, finish = await collect(GeminiProvider("gemini", base, "k", 5, 5))
    assert text == "Answer!"
    assert (usage.input_tokens, usage.output_tokens) == (5, 5)  # candidates + thoughts
    assert finish == End("STOP", "gemini-x-001")


async def test_gemini_blocked_prompt_finishes_as_content_filter(aiohttp_server) -> None:
    body = orjson.dumps({"promptFeedback": {"blockReason": "SAFETY"},
                         "usageMetadata": {"promptTokenCount": 9}})  # fmt: skip
    base = await scripted(aiohttp_server, body, "application/json")
    provider = GeminiProvider("gemini", base, "k", 5, 5)
    text, usage, end = await collect(provider, stream=False)
    assert (text, end.finish_reason) == ("", "content_filter")
    assert usage.input_tokens == 9


async def test_openai_usage_on_the_last_content_chunk_is_read(aiohttp_server) -> None:
    """Some OpenAI-compatible servers put usage on the last content chunk, not on its own."""
    body = sse(
        (None, {"model": "m-1", "choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]}),
        (None, {"model": "m-1", "choices": [{"delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 4, "completion_tokens": 1}}),
    ) + b"data: [DONE]\n\n"  # fmt: skip
    base = await scripted(aiohttp_server, body, "text/event-stream")
    text, usage, finish = await collect(OpenAIProvider("openai", base, "k", 5, 5))
    assert text == "Hi" and (usage.input_tokens, usage.output_tokens) == (4, 1)
    assert finish == End("stop", "m-1")


async def test_openai_refusal_is_returned_as_text(aiohttp_server) -> None:
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    body = orjson.dumps(
        {
            "model": "m",
            "choices": [{"message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 6},
        }
    )
    base = await scripted(aiohttp_server, body, "application/json")
    provider = OpenAIProvider("openai", base, "k", 5, 5)
    text, _, _ = await collect(provider, stream=False)
    assert text == "I can't help with that."
