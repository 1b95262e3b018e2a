"""OpenAI's Responses API read for billing (POST {base}/responses): the answer itself is passed
through to the client as it came (RawEvents); this reads its text (for estimates), its usage
and its end from `response.completed`, `response.incomplete` or `response.failed`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from core import errors
from core.events import End, TextDelta, UpstreamEvent, UsageUpdate
from core.usage import Usage
from proxy.providers.sse import SSEEvent, event_json

PRODUCED = ("response.output_text.delta", "response.function_call_arguments.delta",
            "response.refusal.delta")  # fmt: skip
ENDS = ("response.completed", "response.incomplete")


def parse_usage(raw: object) -> Usage | None:
    """input_tokens INCLUDES cached tokens; output_tokens includes reasoning tokens."""
    if not isinstance(raw, dict):
        return None
    details = raw.get("input_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0) - cached,
        cached_input_tokens=cached,
        output_tokens=int(raw.get("output_tokens") or 0),
    )


def _produced(response: dict[str, Any]) -> list[UpstreamEvent]:
    events: list[UpstreamEvent] = []
    for item in response.get("output") or ():
        if item.get("type") == "function_call" and item.get("arguments"):
            events.append(TextDelta(item["arguments"]))
        for part in item.get("content") or ():
            text = part.get("text") or part.get("refusal")
            if isinstance(text, str) and text:
                events.append(TextDelta(text))
    return events


def _ended(response: dict[str, Any]) -> tuple[list[UpstreamEvent], str | None]:
    """The usage and the end; for a failed response, the usage and why it failed (the usage
    is billed before the failure is raised)."""
    events: list[UpstreamEvent] = []
    usage = parse_usage(response.get("usage"))
    if usage is not None:
        events.append(UsageUpdate(usage))
    status = response.get("status")
    if status == "failed":
        return events, (response.get("error") or {}).get("message") or "no detail"
    finish = "length" if status == "incomplete" else "stop"
    events.append(End(finish, response.get("model")))
    return events, None


def completion_events(answer: Any, provider: str) -> list[UpstreamEvent]:
    ended, failure = _ended(answer)
    if failure is not None:
        raise errors.UpstreamError(f"{provider} failed: {failure}")
    return [*_produced(answer), *ended]


async def stream_events(
    events: AsyncIterator[SSEEvent], provider: str
) -> AsyncIterator[UpstreamEvent]:
    async for event in events:
        data = event_json(event, provider)
        kind = data.get("type") or event.event
        if kind in PRODUCED and data.get("delta"):
            yield TextDelta(data["delta"])
        elif kind in ENDS or kind == "response.failed":
            ended, failure = _ended(data.get("response") or {})
            for parsed in ended:
                yield parsed
            if failure is not None:
                raise errors.UpstreamError(f"{provider} failed: {failure}")
            return
        elif kind == "error":
            raise errors.UpstreamError(f"{provider} failed mid-stream: {data.get('message')}")
