"""Anthropic's shapes out: a call's answer as a Messages API `message`, its events as the
Messages stream (message_start, content blocks, message_delta, message_stop), errors as
Anthropic's error object, so the anthropic SDK and Claude Code read them as their own."""

from __future__ import annotations

from typing import Any

import orjson

from core import errors
from core.chat import ToolCall
from core.events import CallEvent, CallResult, Failed, Finished, Started, TextDelta, ToolCallDelta
from proxy.routes.sse import Frame, dumps

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
# Our status → Anthropic's error type; the status itself is kept (the SDK picks its exception
# class from the status: 401 AuthenticationError, 429 RateLimitError, 5xx InternalServerError…).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def make_message_id(request_id: str) -> str:
    return f"msg_{request_id}"


def stop_reason(result: CallResult) -> str:
    return STOP_REASONS.get(result.finish_reason or "stop", "end_turn")


def usage_json(result: CallResult) -> dict[str, int]:
    """As Anthropic counts: input_tokens excludes cache reads and cache writes."""
    billed = result.usage
    return {
        "input_tokens": billed.input_tokens,
        "output_tokens": billed.output_tokens,
        "cache_read_input_tokens": billed.cached_input_tokens,
        "cache_creation_input_tokens": billed.cache_write_tokens,
    }


def tool_input(arguments: str) -> dict[str, Any]:
    """A call's arguments as the object Anthropic's `input` is (the call has checked them)."""
    try:
        parsed = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def tool_use_json(call: ToolCall) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": call.id,
        "name": call.name,
        "input": tool_input(call.arguments),
    }


def message_json(*, message_id: str, model: str, text: str, result: CallResult) -> dict[str, Any]:
    """The non-stream answer; `model` as the client asked for it."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content.extend(tool_use_json(call) for call in result.tool_calls)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(result),
        "stop_sequence": None,
        "usage": usage_json(result),
    }


def error_type(error: errors.GatewayError) -> str:
    return ERROR_TYPES.get(error.status, "api_error")


def error_object(error: errors.GatewayError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(error), "message": error.message}}


def error_json(error: errors.GatewayError) -> tuple[int, dict[str, Any]]:
    """Our status, Anthropic's error body (the route adds `error.headers()`, e.g. Retry-After)."""
    return error.status, error_object(error)


def sse_event(kind: str, **body: Any) -> Frame:
    """A stream event as Anthropic sends it: the event name repeated as the data's `type`."""
    return (kind, dumps({"type": kind, **body}))


class MessagesStream:
    """The Messages stream of one answer. Usage is only known at the end: message_start
    carries zeros and message_delta the real counts, which the SDK's accumulator (and Claude
    Code) take over those of message_start."""

    def __init__(self, *, message_id: str, model: str) -> None:
        self.message_id = message_id
        self.model = model
        self.blocks = 0  # content blocks started so far
        self.open: int | None = None  # index of the block not yet stopped
        self.text_open = False
        self.tool_blocks: dict[int, int] = {}  # tool-call index → block index
        self.tool_ids: set[str] = set()

    def frames(self, event: CallEvent) -> list[Frame]:
        if isinstance(event, Started):
            return [self.start(), ("ping", dumps({"type": "ping"}))]
        if isinstance(event, TextDelta):
            return self.text(event.text)
        if isinstance(event, ToolCallDelta):
            return self.tool_fragment(event)
        if isinstance(event, Finished):
            return self.finish(event.result)
        if isinstance(event, Failed):
            return [("error", dumps(error_object(event.error)))]
        return []

    def start(self) -> Frame:
        message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
        }
        return sse_event("message_start", message=message)

    def close(self) -> list[Frame]:
        if self.open is None:
            return []
        index, self.open, self.text_open = self.open, None, False
        return [sse_event("content_block_stop", index=index)]

    def begin(self, block: dict[str, Any]) -> list[Frame]:
        frames = self.close()
        self.open, self.blocks = self.blocks, self.blocks + 1
        return [*frames, sse_event("content_block_start", index=self.open, content_block=block)]

    def text(self, text: str) -> list[Frame]:
        if not text:
            return []
        frames = [] if self.text_open else self.begin({"type": "text", "text": ""})
        self.text_open = True
        delta = {"type": "text_delta", "text": text}
        return [*frames, sse_event("content_block_delta", index=self.open, delta=delta)]

    def tool_fragment(self, fragment: ToolCallDelta) -> list[Frame]:
        frames: list[Frame] = []
        if fragment.index not in self.tool_blocks:
            call_id = fragment.id or f"toolu_{self.message_id}_{fragment.index}"
            block = {"type": "tool_use", "id": call_id, "name": fragment.name or "", "input": {}}
            frames = self.begin(block)
            self.tool_blocks[fragment.index] = self.blocks - 1
            self.tool_ids.add(call_id)
        if fragment.arguments:
            # Providers stream one call after another; a late fragment of an earlier call
            # still names its own block.
            delta = {"type": "input_json_delta", "partial_json": fragment.arguments}
            index = self.tool_blocks[fragment.index]
            frames.append(sse_event("content_block_delta", index=index, delta=delta))
        return frames

    def finish(self, result: CallResult) -> list[Frame]:
        frames: list[Frame] = []
        for position, call in enumerate(result.tool_calls):  # any the stream did not carry
            if call.id not in self.tool_ids and position not in self.tool_blocks:
                frames += self.begin({**tool_use_json(call), "input": {}})
                delta = {"type": "input_json_delta", "partial_json": call.arguments}
                frames.append(sse_event("content_block_delta", index=self.open, delta=delta))
        delta = {"stop_reason": stop_reason(result), "stop_sequence": None}
        return [
            *frames,
            *self.close(),
            sse_event("message_delta", delta=delta, usage=usage_json(result)),
            sse_event("message_stop"),
        ]
