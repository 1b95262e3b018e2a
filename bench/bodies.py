"""The request bodies the benchmark sends: to the fake upstreams directly, and to the gateway
(the same question, in each route's format)."""

from __future__ import annotations

import json

MODEL = "gpt-4o-mini"
MAX_TOKENS = 16
MESSAGES = [{"role": "user", "content": "Say hello in a few words."}]
ANTHROPIC_MODEL = "claude-haiku-4-5"
TOOL_MESSAGES = [{"role": "user", "content": "Weather and time in Paris? fake:tools=2"}]
TOOLS = [
    {"name": "get_weather", "description": "The weather in a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"]}},
    {"name": "get_time", "description": "The time in a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
]  # fmt: skip


def messages_body() -> bytes:
    """The Messages API's own body: the same for the fake and for the gateway (passed through)."""
    body = {
        "model": ANTHROPIC_MODEL,
        "messages": MESSAGES,
        "max_tokens": MAX_TOKENS,
        "stream": True,
    }
    return json.dumps(body).encode()


def direct_body(mode: str) -> bytes:
    if mode == "messages":
        return messages_body()
    body: dict[str, object] = {"model": MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    if mode == "stream":
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    if mode == "tools":
        tools = [{"type": "function", "function": tool} for tool in TOOLS]
        body |= {"messages": TOOL_MESSAGES, "tools": tools}
    return json.dumps(body).encode()


def gateway_body(mode: str) -> bytes:
    """The native body; the path picks JSON or SSE."""
    if mode == "messages":
        return messages_body()
    body: dict[str, object] = {
        "provider": "openai",
        "model": MODEL,
        "messages": MESSAGES,
        "max_tokens": MAX_TOKENS,
    }
    if mode == "tools":
        body |= {"messages": TOOL_MESSAGES, "tools": TOOLS}
    return json.dumps(body).encode()
