"""OpenAI Chat Completions: POST {base}/chat/completions."""

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


def parse_usage(raw: object) -> Usage | None:
    """prompt_tokens INCLUDES cached_tokens; completion_tokens includes reasoning tokens."""
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("prompt_tokens") or 0)
    details = raw.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return Usage(
        input_tokens=prompt - cached,  # negative: nonsense, replaced by the estimate (core.billing)
        cached_input_tokens=cached,
        output_tokens=int(raw.get("completion_tokens") or 0),
    )


@dataclass
class OpenAIProvider(HttpProvider):
    def url(self, request: ChatRequest, stream: bool) -> str:
        return f"{self.base_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            # max_tokens is deprecated and refused by reasoning models.
            "max_completion_tokens": request.max_tokens,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop"] = list(request.stop)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def completion_events(self, answer: Any) -> list[UpstreamEvent]:
        choice = (answer.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        events: list[UpstreamEvent] = []
        text = message.get("content") or message.get("refusal") or ""
        if text:
            events.append(TextDelta(text))
        usage = parse_usage(answer.get("usage"))
        if usage is not None:
            events.append(UsageUpdate(usage))
        events.append(End(choice.get("finish_reason"), answer.get("model")))
        return events

    async def stream_events(self, events: AsyncIterator[SSEEvent]) -> AsyncIterator[UpstreamEvent]:
        finish_reason = model = None
        async for event in events:
            if event.data == "[DONE]":
                yield End(finish_reason, model)
                return
            chunk = event_json(event, self.name)
            if "error" in chunk:  # a mid-stream failure arrives as data on a 200
                raise stream_error(self.name, self.api_key, event.data)
            model = chunk.get("model") or model
            # The usage chunk has choices: [] — never read choices[0] blindly.
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield TextDelta(text)
                finish_reason = choice.get("finish_reason") or finish_reason
            usage = parse_usage(chunk.get("usage"))
            if usage is not None:
                yield UsageUpdate(usage)
