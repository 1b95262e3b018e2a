"""Fake Anthropic Messages API: `POST /v1/messages`, plain and streamed, and
`POST /v1/messages/count_tokens`."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from . import anthropic_tools
from .common import (
    Directives,
    FakeProvider,
    Handler,
    StreamPlan,
    json_response,
    new_id,
    split_text,
    sse,
)
from .tools import MALFORMED_ARGUMENTS, Reply, decide, fragments

# status -> (error type, message)
ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per"
        " minute. Please try again later.",
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
SYSTEM_ROLE = (
    'messages: Unexpected role "system". The Messages API accepts a top-level `system`'
    ' parameter, not "system" as an input message role.'
)


def error_json(status: int, type_: str, message: str) -> web.Response:
    body = {"type": "error", "error": {"type": type_, "message": message}}
    body["request_id"] = new_id("req_011C", 20)
    return json_response(body, status, {"request-id": body["request_id"]})


def usage(d: Directives, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": d.input_tokens,
        "cache_creation_input_tokens": d.cache_write,
        "cache_read_input_tokens": d.cached,
        "cache_creation": {
            "ephemeral_5m_input_tokens": d.cache_write,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def stop_reason(tool_use: bool, d: Directives) -> str:
    if tool_use:
        return "tool_use"
    return "max_tokens" if d.incomplete else "end_turn"


class AnthropicProvider(FakeProvider):
    name = "anthropic"

    def add_routes(self, app: web.Application, handler: Handler) -> None:
        app.router.add_post("/v1/messages", handler)
        app.router.add_post("/v1/messages/count_tokens", partial(handler, provider=CountTokens()))

    def auth_error(self, request: web.Request) -> web.Response | None:
        # anthropic>=2.x sends its API key as `Authorization: Bearer`; the API takes both.
        key = request.headers.get("x-api-key", "").strip()
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        if not key and scheme.lower() == "bearer":
            key = bearer.strip()
        if not key:
            return error_json(401, "authentication_error", "x-api-key header is required")
        if key == "bad-key":
            return self.error_response(401)
        if not request.headers.get("anthropic-version"):
            return error_json(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    def body_error(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return error_json(400, "invalid_request_error", "There was an error parsing the body")
        for required in ("model", "max_tokens", "messages"):
            if required not in body:
                return error_json(400, "invalid_request_error", f"{required}: Field required")
        messages = body["messages"]
        if not isinstance(messages, list):
            return error_json(400, "invalid_request_error", "messages: Input should be a list")
        if any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
            return error_json(400, "invalid_request_error", SYSTEM_ROLE)
        return None

    def last_user_text(self, body: dict[str, Any]) -> str:
        for message in reversed(body["messages"]):
            if isinstance(message, dict) and message.get("role") == "user":
                if anthropic_tools.is_results_only(message):
                    continue  # the directives stay those of the user's own words
                content = message.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return " ".join(
                        str(b.get("text", ""))
                        for b in content
                        if isinstance(b, dict) and b.get("type") == "text"
                    )
                return ""
        return ""

    def error_response(self, status: int) -> web.Response:
        default = ERRORS[500] if status >= 500 else ERRORS[400]
        return error_json(status, *ERRORS.get(status, default))

    def is_stream(self, request: web.Request, body: dict[str, Any], stream: bool | None) -> bool:
        return body.get("stream") is True

    def conversation_error(self, body: dict[str, Any], d: Directives) -> web.Response | None:
        message = anthropic_tools.conversation_error(body)
        return None if message is None else error_json(400, "invalid_request_error", message)

    def reply(self, body: dict[str, Any], d: Directives) -> tuple[Reply, Directives]:
        return decide(anthropic_tools.read_turn(body, d), d, lambda: new_id("toolu_01", 22))

    @staticmethod
    def blocks(reply: Reply, d: Directives) -> list[tuple[dict[str, Any], str]]:
        """The answer's content blocks, each with its streamed text or JSON."""
        if reply.malformed:
            block = {"type": "tool_use", "id": new_id("toolu_01", 22), "name": reply.malformed}
            return [({**block, "input": {}}, MALFORMED_ARGUMENTS)]
        if reply.calls:
            return [
                ({"type": "tool_use", "id": c.id, "name": c.name, "input": c.args}, c.arguments)
                for c in reply.calls
            ]
        return [({"type": "text", "text": d.text}, d.text)]

    def completion(self, request: web.Request, body: dict[str, Any], d: Directives) -> web.Response:
        reply, d = self.reply(body, d)
        tool_use = bool(reply.calls or reply.malformed)
        return json_response(
            {
                "id": new_id("msg_01", 22),
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [block for block, _ in self.blocks(reply, d)],
                "stop_reason": stop_reason(tool_use, d),
                "stop_sequence": None,
                "usage": usage(d, d.output_tokens),
            },
            headers=self._headers(),
        )

    def stream_plan(self, request: web.Request, body: dict[str, Any], d: Directives) -> StreamPlan:
        reply, d = self.reply(body, d)
        tool_use = bool(reply.calls or reply.malformed)
        eol = b"\r\n" if d.crlf else b"\n"

        def event(name: str, data: dict[str, Any]) -> bytes:
            return sse({"type": name, **data}, eol, name)

        message = {
            "id": new_id("msg_01", 22),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage(d, 1),
        }
        events: list[bytes] = []
        for index, (block, text) in enumerate(self.blocks(reply, d)):
            if block["type"] == "text":
                start, pieces = {"type": "text", "text": ""}, split_text(text)
                deltas = [{"type": "text_delta", "text": t} for t in pieces]
            else:  # tool_use: the input arrives as partial JSON
                start, pieces = {**block, "input": {}}, fragments(text)
                deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
            events.append(event("content_block_start", {"index": index, "content_block": start}))
            events += [event("content_block_delta", {"index": index, "delta": x}) for x in deltas]
            events.append(event("content_block_stop", {"index": index}))
        return StreamPlan(
            head=[event("message_start", {"message": message}), events[0], event("ping", {})],
            deltas=events[1:-1],
            tail=[
                events[-1],
                event(
                    "message_delta",
                    {
                        "delta": {
                            "stop_reason": stop_reason(tool_use, d),
                            "stop_sequence": None,
                        },
                        "usage": {"output_tokens": d.output_tokens},
                    },
                ),
                event("message_stop", {}),
            ],
            error=event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}),
            headers=self._headers(),
        )

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"request-id": new_id("req_011C", 20)}


def _texts(content: Any) -> list[str]:
    """The text a content holds: strings, text blocks, tool_use names and inputs (as JSON),
    tool_result contents."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            texts += [str(block.get("name", "")), orjson.dumps(block.get("input")).decode()]
        elif block.get("type") == "tool_result":
            texts += _texts(block.get("content"))
    return texts


def count_tokens(body: dict[str, Any]) -> int:
    """The fake's count: every character of the system prompt, the messages' text and the tool
    definitions (as JSON) over 4, rounded up, plus 3 per message."""
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    texts = _texts(body.get("system"))
    for message in messages:
        texts += _texts(message.get("content"))
    tools = body.get("tools")
    texts += [orjson.dumps(t).decode() for t in (tools if isinstance(tools, list) else [])]
    return math.ceil(sum(len(t) for t in texts) / 4) + 3 * len(messages)


class CountTokens(AnthropicProvider):
    """`POST /v1/messages/count_tokens`: `{"input_tokens": N}`, N the IN of `fake:usage=IN,OUT`
    in the last user text, else `count_tokens(body)`. Never streamed."""

    def body_error(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return error_json(400, "invalid_request_error", "There was an error parsing the body")
        for required in ("model", "messages"):
            if required not in body:
                return error_json(400, "invalid_request_error", f"{required}: Field required")
        return super().body_error({"max_tokens": 1, **body})

    def is_stream(self, request: web.Request, body: dict[str, Any], stream: bool | None) -> bool:
        return False

    def completion(self, request: web.Request, body: dict[str, Any], d: Directives) -> web.Response:
        tokens = d.input_tokens if d.usage_set else count_tokens(body)
        return json_response({"input_tokens": tokens}, headers=self._headers())
