"""Anthropic Messages: POST {base}/v1/messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from core.chat import ChatRequest
from core.events import End, TextDelta, UpstreamEvent, UsageUpdate
from core.usage import Usage
from proxy.providers.base import HttpProvider
from proxy.providers.sse import SSEEvent, event_json
from proxy.providers.upstream_errors import stream_error

API_VERSION = "2023-06-01"


def apply_usage(usage: Usage, raw: object) -> Usage:
    """input_tokens EXCLUDES cache reads and writes (each billed at its own price). Counts in
    message_delta are cumulative: overwrite what is present, never add."""
    if isinstance(raw, dict):
        if raw.get("input_tokens") is not None:
            usage.input_tokens = int(raw["input_tokens"])
        if raw.get("cache_read_input_tokens") is not None:
            usage.cached_input_tokens = int(raw["cache_read_input_tokens"])
        if raw.get("cache_creation_input_tokens") is not None:
            usage.cache_write_tokens = int(raw["cache_creation_input_tokens"])
        if raw.get("output_tokens") is not None:
            usage.output_tokens = int(raw["output_tokens"])
    return usage


@dataclass
class AnthropicProvider(HttpProvider):
    def url(self, request: ChatRequest, stream: bool) -> str:
        return f"{self.base_url}/v1/messages"

    def headers(self) -> dict[str, str]:
        return {
            "x-api-key": self.api_key,
            "anthropic-version": API_VERSION,
            "Content-Type": "application/json",
        }

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        system, messages = request.split_system()
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if system:
            body["system"] = system  # a top-level field, not a message role
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if stream:
            body["stream"] = True
        return body

    def completion_events(self, answer: Any) -> list[UpstreamEvent]:
        blocks = answer.get("content") or ()
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        events: list[UpstreamEvent] = [TextDelta(text)] if text else []
        if answer.get("usage"):
            events.append(UsageUpdate(apply_usage(Usage(), answer["usage"])))
        events.append(End(answer.get("stop_reason"), answer.get("model")))
        return events

    async def stream_events(self, events: AsyncIterator[SSEEvent]) -> AsyncIterator[UpstreamEvent]:
        usage = Usage()
        finish_reason = model = None
        async for event in events:
            if event.event == "ping":
                continue
            data = event_json(event, self.name)
            kind = data.get("type", event.event)
            if kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    yield TextDelta(delta["text"])
            elif kind == "content_block_start":  # may already carry text of its own
                block = data.get("content_block") or {}
                if block.get("type") == "text" and block.get("text"):
                    yield TextDelta(block["text"])
            elif kind == "message_start":
                message = data.get("message") or {}
                model = message.get("model")
                yield UsageUpdate(apply_usage(usage, message.get("usage")))
            elif kind == "message_delta":
                finish_reason = (data.get("delta") or {}).get("stop_reason") or finish_reason
                yield UsageUpdate(apply_usage(usage, data.get("usage")))
            elif kind == "message_stop":
                yield End(finish_reason, model)
                return
            elif kind == "error":
                raise stream_error(self.name, self.api_key, event.data)
