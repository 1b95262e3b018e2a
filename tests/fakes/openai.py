"""Fake OpenAI Chat Completions: `POST /v1/chat/completions`, plain and streamed (and the route
of the Responses API, `openai_responses`)."""

from __future__ import annotations

import re
import time
from functools import partial
from typing import Any

from aiohttp import web

from . import openai_tools
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

DATED_MODELS = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4-turbo": "gpt-4-turbo-2024-04-09",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "o1": "o1-2024-12-17",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "gpt-5-nano": "gpt-5-nano-2025-08-07",
}
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")
FINGERPRINT = "fp_f4ke0f4ke0"
KEYS_URL = "https://platform.openai.com/account/api-keys"
NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header"
    " using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with"
    " blank username) if you're accessing the API from your browser and are prompted for a"
    f" username and password. You can obtain an API key from {KEYS_URL}."
)
SERVER_ERROR = (
    "The server had an error while processing your request. Sorry about that!",
    "server_error",
    "server_error",
)
# status -> (message, type, code)
ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: (
        f"Incorrect API key provided: bad-key. You can find your API key at {KEYS_URL}.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to sample from this model", "invalid_request_error", None),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: (
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1."
        " Please try again in 20s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: SERVER_ERROR,
    503: ("The engine is currently overloaded, please try again later", "server_error", None),
}


def dated_model(model: str) -> str:
    """The dated name the real API reports for a requested model."""
    if _DATED.search(model):
        return model
    return DATED_MODELS.get(model, model + "-2025-01-01")


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def usage(d: Directives) -> dict[str, Any]:
    return {
        "prompt_tokens": d.input_tokens,
        "completion_tokens": d.output_tokens,
        "total_tokens": d.input_tokens + d.output_tokens,
        "prompt_tokens_details": {"cached_tokens": d.cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": d.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class OpenAIProvider(FakeProvider):
    name = "openai"
    url_prefix = "/v1"

    def add_routes(self, app: web.Application, handler: Handler) -> None:
        from .openai_responses import OpenAIResponses  # it builds on this module

        app.router.add_post("/v1/chat/completions", handler)
        app.router.add_post("/v1/responses", partial(handler, provider=OpenAIResponses()))

    def auth_error(self, request: web.Request) -> web.Response | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return json_response(error_body(NO_KEY, "invalid_request_error", None), 401)
        if key.strip() == "bad-key":
            return self.error_response(401)
        return None

    def body_error(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            message = "We could not parse the JSON body of your request."
            return json_response(error_body(message, "invalid_request_error", None), 400)
        if not body.get("model"):
            message = "you must provide a model parameter"
            return json_response(error_body(message, "invalid_request_error", None), 400)
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            message = "Missing required parameter: 'messages'."
            err = error_body(message, "invalid_request_error", "missing_required_parameter")
            err["error"]["param"] = "messages"
            return json_response(err, 400)
        return None

    def last_user_text(self, body: dict[str, Any]) -> str:
        for message in reversed(body["messages"]):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
                return ""
        return ""

    def error_response(self, status: int) -> web.Response:
        message, type_, code = ERRORS.get(status, SERVER_ERROR if status >= 500 else ERRORS[400])
        return json_response(error_body(message, type_, code), status, self._headers())

    def is_stream(self, request: web.Request, body: dict[str, Any], stream: bool | None) -> bool:
        return body.get("stream") is True

    def conversation_error(self, body: dict[str, Any], d: Directives) -> web.Response | None:
        return openai_tools.conversation_error(body)

    def reply(self, body: dict[str, Any], d: Directives) -> tuple[Reply, Directives]:
        return decide(openai_tools.read_turn(body, d), d, lambda: new_id("call_", 24))

    @staticmethod
    def tool_calls(reply: Reply) -> list[dict[str, Any]]:
        """The answer's calls as `message.tool_calls` entries (a malformed one included)."""
        calls = [(c.id, c.name, c.arguments) for c in reply.calls]
        if reply.malformed:
            calls = [(new_id("call_", 24), reply.malformed, MALFORMED_ARGUMENTS)]
        return [
            {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}
            for id_, name, arguments in calls
        ]

    def completion(self, request: web.Request, body: dict[str, Any], d: Directives) -> web.Response:
        reply, d = self.reply(body, d)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": d.text,
            "refusal": None,
            "annotations": [],
        }
        finish = "length" if d.incomplete else "stop"
        if calls := self.tool_calls(reply):
            message["content"], message["tool_calls"], finish = None, calls, "tool_calls"
        return json_response(
            {
                "id": new_id("chatcmpl-", 29),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": dated_model(str(body["model"])),
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": usage(d),
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
            },
            headers=self._headers(),
        )

    def stream_plan(self, request: web.Request, body: dict[str, Any], d: Directives) -> StreamPlan:
        reply, d = self.reply(body, d)
        eol = b"\r\n" if d.crlf else b"\n"
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        base = {
            "id": new_id("chatcmpl-", 29),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": dated_model(str(body["model"])),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            data: dict[str, Any] = {**base, "choices": [choice]}
            if with_usage:
                data["usage"] = None
            return sse(data, eol)

        head = [chunk({"role": "assistant", "content": "", "refusal": None})]
        deltas = [chunk({"content": piece}) for piece in split_text(d.text)]
        finish = "length" if d.incomplete else "stop"
        if calls := self.tool_calls(reply):
            # OpenAI's order: the role with the first call's head, then each call's head
            # (index, id, type, name, empty arguments) and its argument fragments, in turn.
            head, deltas, finish = [], [], "tool_calls"
            for index, call in enumerate(calls):
                function = call["function"]
                first: dict[str, Any] = {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": function["name"], "arguments": ""},
                }
                role = {"role": "assistant", "content": None, "refusal": None} if index == 0 else {}
                deltas.append(chunk({**role, "tool_calls": [first]}))
                deltas.extend(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                    for piece in fragments(function["arguments"])
                )
        tail = [chunk({}, finish)]
        if with_usage:
            tail.append(sse({**base, "choices": [], "usage": usage(d)}, eol))
        tail.append(sse(b"[DONE]", eol))
        return StreamPlan(
            head=head,
            deltas=deltas,
            tail=tail,
            error=sse(error_body(*SERVER_ERROR[:2], None), eol),
            headers=self._headers(),
        )

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"x-request-id": new_id("req_", 32), "openai-processing-ms": "1"}
