"""Gemini: POST {base}/v1beta/models/{model}:generateContent and :streamGenerateContent?alt=sse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from core import errors
from core.chat import ChatRequest
from core.events import End, TextDelta, ToolCallDelta, UpstreamEvent, UsageUpdate
from core.tool_ids import make_id
from core.usage import Usage
from proxy.providers.base import HttpProvider, Prepared
from proxy.providers.gemini_wire import request_json
from proxy.providers.sse import SSEEvent, event_json
from proxy.providers.upstream_errors import stream_error


def parse_usage(raw: object) -> Usage | None:
    """promptTokenCount includes cachedContentTokenCount; candidatesTokenCount EXCLUDES
    thoughtsTokenCount (output is both). Zero counts are omitted, so default them to 0."""
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("promptTokenCount") or 0)
    cached = int(raw.get("cachedContentTokenCount") or 0)
    thoughts = int(raw.get("thoughtsTokenCount") or 0)
    output = int(raw.get("candidatesTokenCount") or 0) + thoughts
    return Usage(input_tokens=prompt - cached, cached_input_tokens=cached, output_tokens=output,
                 reasoning_tokens=thoughts)  # fmt: skip


MALFORMED = ("MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL")


class Reader:
    """Gemini's candidates as events: text, whole function calls (given stable ids and their
    thought signatures), the finish reason; a malformed call is the upstream's error."""

    def __init__(self, prepared: Prepared) -> None:
        self.request_id = prepared.request_id
        self.calls = 0

    def events(self, chunk: dict) -> tuple[list[UpstreamEvent], str | None]:
        candidates = chunk.get("candidates") or ()
        if not candidates:
            blocked = (chunk.get("promptFeedback") or {}).get("blockReason")
            return [], ("content_filter" if blocked else None)
        candidate = candidates[0]
        finish = candidate.get("finishReason")
        if finish in MALFORMED:
            raise errors.UpstreamError(f"gemini produced a malformed function call ({finish})")
        events: list[UpstreamEvent] = []
        for part in (candidate.get("content") or {}).get("parts") or ():
            if part.get("thought"):
                continue
            if part.get("text"):
                events.append(TextDelta(part["text"]))
            call = part.get("functionCall")
            if isinstance(call, dict):
                call_id = make_id(call.get("id"), part.get("thoughtSignature"),
                                  request_id=self.request_id, index=self.calls)  # fmt: skip
                arguments = orjson.dumps(call.get("args") or {}).decode()
                events.append(ToolCallDelta(self.calls, call_id, call.get("name"), arguments))
                self.calls += 1
        return events, finish


@dataclass
class GeminiProvider(HttpProvider):
    needs_image_bytes = True  # inlineData only: image URLs are fetched by the gateway

    def path(self, request: ChatRequest, stream: bool) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"/v1beta/models/{quote(request.model, safe='')}:{method}"

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key}

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        return request_json(request)

    def completion_events(self, answer: Any, prepared: Prepared) -> list[UpstreamEvent]:
        events, finish_reason = Reader(prepared).events(answer)
        usage = parse_usage(answer.get("usageMetadata"))
        if usage is not None:
            events.append(UsageUpdate(usage))
        events.append(End(finish_reason, answer.get("modelVersion")))
        return events

    async def stream_events(
        self, events: AsyncIterator[SSEEvent], prepared: Prepared
    ) -> AsyncIterator[UpstreamEvent]:
        reader = Reader(prepared)
        finish_reason = model = None
        async for event in events:
            chunk = event_json(event, self.name)
            if "error" in chunk:
                raise stream_error(self.name, self.secrets, event.data)
            model = chunk.get("modelVersion") or model
            parsed, finish = reader.events(chunk)
            for item in parsed:
                yield item
            usage = parse_usage(chunk.get("usageMetadata"))  # cumulative: last one wins
            if usage is not None:
                yield UsageUpdate(usage)
            finish_reason = finish or finish_reason
        # No [DONE] here: the stream is complete only if a chunk carried a finishReason.
        if finish_reason is not None:
            yield End(finish_reason, model)
