"""Gemini: POST {base}/v1beta/models/{model}:generateContent and :streamGenerateContent?alt=sse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from core.chat import ChatRequest
from core.events import End, TextDelta, UpstreamEvent, UsageUpdate
from core.usage import Usage
from proxy.providers.base import HttpProvider
from proxy.providers.sse import SSEEvent, event_json
from proxy.providers.upstream_errors import stream_error


def parse_usage(raw: object) -> Usage | None:
    """promptTokenCount includes cachedContentTokenCount; candidatesTokenCount EXCLUDES
    thoughtsTokenCount (output is both). Zero counts are omitted, so default them to 0."""
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("promptTokenCount") or 0)
    cached = int(raw.get("cachedContentTokenCount") or 0)
    output = int(raw.get("candidatesTokenCount") or 0) + int(raw.get("thoughtsTokenCount") or 0)
    return Usage(input_tokens=prompt - cached, cached_input_tokens=cached, output_tokens=output)


def _text_and_finish(chunk: dict) -> tuple[str, str | None]:
    candidates = chunk.get("candidates") or ()
    if not candidates:
        blocked = (chunk.get("promptFeedback") or {}).get("blockReason")
        return "", ("content_filter" if blocked else None)
    candidate = candidates[0]
    parts = (candidate.get("content") or {}).get("parts") or ()
    text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
    return text, candidate.get("finishReason")


@dataclass
class GeminiProvider(HttpProvider):
    def url(self, request: ChatRequest, stream: bool) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self.base_url}/v1beta/models/{quote(request.model, safe='')}:{method}"

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key, "Content-Type": "application/json"}

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        system, messages = request.split_system()
        config: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.stop:
            config["stopSequences"] = list(request.stop)
        body: dict[str, Any] = {
            "contents": [
                {
                    "role": "model" if m.role == "assistant" else "user",
                    "parts": [{"text": m.content}],
                }
                for m in messages
            ],
            "generationConfig": config,
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        return body

    def completion_events(self, answer: Any) -> list[UpstreamEvent]:
        text, finish_reason = _text_and_finish(answer)
        events: list[UpstreamEvent] = [TextDelta(text)] if text else []
        usage = parse_usage(answer.get("usageMetadata"))
        if usage is not None:
            events.append(UsageUpdate(usage))
        events.append(End(finish_reason, answer.get("modelVersion")))
        return events

    async def stream_events(self, events: AsyncIterator[SSEEvent]) -> AsyncIterator[UpstreamEvent]:
        finish_reason = model = None
        async for event in events:
            chunk = event_json(event, self.name)
            if "error" in chunk:
                raise stream_error(self.name, self.api_key, event.data)
            model = chunk.get("modelVersion") or model
            text, finish = _text_and_finish(chunk)
            if text:
                yield TextDelta(text)
            usage = parse_usage(chunk.get("usageMetadata"))  # cumulative: last one wins
            if usage is not None:
                yield UsageUpdate(usage)
            finish_reason = finish or finish_reason
        # No [DONE] here: the stream is complete only if a chunk carried a finishReason.
        if finish_reason is not None:
            yield End(finish_reason, model)
