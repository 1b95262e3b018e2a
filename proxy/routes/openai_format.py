"""OpenAI's shapes out: a call's answer as a `chat.completion`, its events as chunks."""

from __future__ import annotations

import time
from typing import Any

from core.chat import ChatRequest
from core.events import CallEvent, CallResult, Failed, Finished, Started, TextDelta
from proxy.routes.answers import usage_json as gateway_usage_json
from proxy.routes.sse import Frame, dumps

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
}


def finish_reason(result: CallResult) -> str:
    raw = result.finish_reason
    if raw in ("stop", "length", "content_filter", "tool_calls"):
        return raw
    return FINISH_REASONS.get(raw or "", "stop")


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
        message = {"role": "assistant", "content": text, "refusal": None}
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
