"""Anthropic Messages: POST {base}/v1/messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from core.chat import ChatRequest
from core.events import End, TextDelta, ToolCallDelta, UpstreamEvent, UsageUpdate
from core.usage import Usage
from proxy.providers.anthropic_wire import request_json
from proxy.providers.base import HttpProvider, Prepared
from proxy.providers.sse import SSEEvent, event_json
from proxy.providers.upstream_errors import stream_error

API_VERSION = "2023-06-01"


def apply_usage(usage: Usage, raw: object) -> Usage:
    """input_tokens EXCLUDES cache reads and writes (each billed at its own price, 1-hour writes
    apart from 5-minute ones). Counts in message_delta are cumulative: overwrite what is present,
    never add."""
    if isinstance(raw, dict):
        if raw.get("input_tokens") is not None:
            usage.input_tokens = int(raw["input_tokens"])
        if raw.get("cache_read_input_tokens") is not None:
            usage.cached_input_tokens = int(raw["cache_read_input_tokens"])
        if raw.get("cache_creation_input_tokens") is not None:
            usage.cache_write_tokens = int(raw["cache_creation_input_tokens"])
        # The writes' split by how long they are kept: 1-hour writes cost more (2x input).
        split = raw.get("cache_creation")
        if isinstance(split, dict) and split.get("ephemeral_1h_input_tokens") is not None:
            usage.cache_write_1h_tokens = int(split["ephemeral_1h_input_tokens"] or 0)
        if raw.get("output_tokens") is not None:
            usage.output_tokens = int(raw["output_tokens"])
    return usage


@dataclass
class AnthropicProvider(HttpProvider):
    def path(self, request: ChatRequest, stream: bool) -> str:
        return "/v1/messages"

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key, "anthropic-version": API_VERSION}

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        return request_json(request, stream)

    def completion_events(self, answer: Any, prepared: Prepared) -> list[UpstreamEvent]:
        json_mode = prepared.chat.response_format is not None
        events: list[UpstreamEvent] = []
        calls = 0
        for block in answer.get("content") or ():
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                events.append(TextDelta(block["text"]))
            elif kind == "tool_use":
                arguments = orjson.dumps(block.get("input") or {}).decode()
                if json_mode:  # the forced tool's input is the answer
                    events.append(TextDelta(arguments))
                else:
                    events.append(ToolCallDelta(calls, block.get("id"), block.get("name"),
                                                arguments))  # fmt: skip
                    calls += 1
        if answer.get("usage"):
            events.append(UsageUpdate(apply_usage(Usage(), answer["usage"])))
        events.append(End(finish(answer.get("stop_reason"), json_mode), answer.get("model")))
        return events

    async def stream_events(
        self, events: AsyncIterator[SSEEvent], prepared: Prepared
    ) -> AsyncIterator[UpstreamEvent]:
        json_mode = prepared.chat.response_format is not None
        usage = Usage()
        finish_reason = model = None
        calls: dict[int, int] = {}  # content block index -> tool call index
        async for event in events:
            if event.event == "ping":
                continue
            data = event_json(event, self.name)
            kind = data.get("type", event.event)
            if kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    yield TextDelta(delta["text"])
                elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                    fragment = delta["partial_json"]
                    if json_mode:
                        yield TextDelta(fragment)
                    elif data.get("index") in calls:
                        yield ToolCallDelta(calls[data["index"]], None, None, fragment)
            elif kind == "content_block_start":  # may already carry text of its own
                block = data.get("content_block") or {}
                if block.get("type") == "text" and block.get("text"):
                    yield TextDelta(block["text"])
                elif block.get("type") == "tool_use" and not json_mode:
                    calls[data.get("index", len(calls))] = index = len(calls)
                    yield ToolCallDelta(index, block.get("id"), block.get("name"), "")
            elif kind == "message_start":
                message = data.get("message") or {}
                model = message.get("model")
                yield UsageUpdate(apply_usage(usage, message.get("usage")))
            elif kind == "message_delta":
                finish_reason = (data.get("delta") or {}).get("stop_reason") or finish_reason
                yield UsageUpdate(apply_usage(usage, data.get("usage")))
            elif kind == "message_stop":
                yield End(finish(finish_reason, json_mode), model)
                return
            elif kind == "error":
                raise stream_error(self.name, self.secrets, event.data)


def finish(stop_reason: str | None, json_mode: bool) -> str | None:
    """The forced tool of structured output is the answer, not a tool call."""
    return "end_turn" if json_mode and stop_reason == "tool_use" else stop_reason
