"""OpenAI's shapes out: a call's answer as a `chat.completion`, its events as chunks."""

from __future__ import annotations

import time
from typing import Any

from core.chat import ChatRequest
from core.events import CallEvent, CallResult, Failed, Finished, Started, TextDelta, ToolCallDelta
from proxy.routes.answers import usage_json as gateway_usage_json
from proxy.routes.sse import Frame, dumps


def finish_reason(result: CallResult) -> str:
    return result.finish_reason or "stop"


def tool_calls_json(result: CallResult) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in result.tool_calls
    ]


def usage_json(result: CallResult) -> dict[str, Any]:
    billed = result.usage
    return {
        "prompt_tokens": billed.total_input_tokens,
        "completion_tokens": billed.output_tokens,
        "total_tokens": billed.total_input_tokens + billed.output_tokens,
        "prompt_tokens_details": {"cached_tokens": billed.cached_input_tokens},
    }


def gateway_json(result: CallResult) -> dict[str, Any]:
    """Our additions, under one key OpenAI's clients ignore: the exact cost and the month."""
    return {"usage": gateway_usage_json(result), "month": result.month.to_json()}


class Completion:
    """The identity every chunk and the answer of one request share."""

    def __init__(self, chat: ChatRequest, request_id: str) -> None:
        self.id = f"chatcmpl-{request_id}"
        self.created = int(time.time())
        self.model = f"{chat.provider}/{chat.model}" if chat.provider != "openai" else chat.model

    def answer(self, text: str, result: CallResult) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if result.tool_calls:
            message["content"] = text or None  # as OpenAI: null when the turn only calls tools
            message["tool_calls"] = tool_calls_json(result)
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": finish_reason(result),
        }
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": usage_json(result),
            "system_fingerprint": None,
            "kaixu": gateway_json(result),
        }


def tool_call_fragment(event: ToolCallDelta) -> dict[str, Any]:
    """As OpenAI streams a call: its first fragment carries the id, type and name."""
    fragment: dict[str, Any] = {"index": event.index}
    function: dict[str, Any] = {}
    if event.id is not None:
        fragment["id"] = event.id
        fragment["type"] = "function"
    if event.name is not None:
        function["name"] = event.name
    function["arguments"] = event.arguments
    fragment["function"] = function
    return fragment


class ChunkStream:
    """`chat.completion.chunk`s as OpenAI streams them, the usage chunk when asked, [DONE]."""

    def __init__(self, completion: Completion, include_usage: bool) -> None:
        self.completion = completion
        self.include_usage = include_usage

    def chunk(self, choices: list[dict[str, Any]], **extra: Any) -> Frame:
        body = {
            "id": self.completion.id,
            "object": "chat.completion.chunk",
            "created": self.completion.created,
            "model": self.completion.model,
            "system_fingerprint": None,
            "choices": choices,
            **extra,
        }
        if self.include_usage:
            body.setdefault("usage", None)  # as OpenAI: null on every chunk but the last
        return (None, dumps(body))

    def delta(self, content: dict[str, Any], finish: str | None = None) -> Frame:
        return self.chunk(
            [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}]
        )

    def frames(self, event: CallEvent) -> list[Frame]:
        if isinstance(event, Started):
            return [self.delta({"role": "assistant", "content": ""})]
        if isinstance(event, TextDelta):
            return [self.delta({"content": event.text})]
        if isinstance(event, ToolCallDelta):
            return [self.delta({"tool_calls": [tool_call_fragment(event)]})]
        if isinstance(event, Finished):
            frames = [self.delta({}, finish_reason(event.result))]
            if self.include_usage:
                result = event.result
                frames.append(self.chunk([], usage=usage_json(result), kaixu=gateway_json(result)))
            return [*frames, (None, "[DONE]")]
        if isinstance(event, Failed):  # what OpenAI sends mid-stream; its SDK raises APIError
            body = {
                "message": event.error.message,
                "type": event.error.error_type,
                "code": event.error.error_type,
                "param": None,
                "kaixu": gateway_json(event.result),
            }
            return [(None, dumps({"error": body}))]
        return []
