"""Anthropic Messages: POST {base}/v1/messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from proxy.providers.base import ChatRequest, Completion, Finish, HttpProvider, StreamEvent, Usage
from proxy.providers.sse import event_json, read_events

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


def _completion(body: dict) -> Completion:
    blocks = body.get("content") or ()
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    usage = apply_usage(Usage(), body.get("usage")) if body.get("usage") else None
    return Completion(text, usage, body.get("model"), body.get("stop_reason"))


@dataclass
class AnthropicProvider(HttpProvider):
    def _body(self, request: ChatRequest, stream: bool) -> dict:
        system, messages = request.split_system()
        body: dict = {
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

    def _headers(self) -> dict[str, str]:
        return {
            "x-api-key": self.api_key,
            "anthropic-version": API_VERSION,
            "Content-Type": "application/json",
        }

    async def complete(self, request: ChatRequest) -> Completion:
        url = f"{self.base_url}/v1/messages"
        return await self.post_json(url, self._body(request, False), self._headers(), _completion)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        url = f"{self.base_url}/v1/messages"
        usage = Usage()
        finish_reason = model = None
        async with self.open_stream(url, self._body(request, True), self._headers()) as resp:
            async for event in read_events(resp, self.name):
                if event.event == "ping":
                    continue
                data = event_json(event, self.name)
                kind = data.get("type", event.event)
                if kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield delta["text"]
                elif kind == "content_block_start":  # may already carry text of its own
                    block = data.get("content_block") or {}
                    if block.get("type") == "text" and block.get("text"):
                        yield block["text"]
                elif kind == "message_start":
                    message = data.get("message") or {}
                    model = message.get("model")
                    yield apply_usage(usage, message.get("usage"))
                elif kind == "message_delta":
                    finish_reason = (data.get("delta") or {}).get("stop_reason") or finish_reason
                    yield apply_usage(usage, data.get("usage"))
                elif kind == "message_stop":
                    yield Finish(finish_reason, model)
                    return
                elif kind == "error":
                    raise self.stream_error(event.data)
