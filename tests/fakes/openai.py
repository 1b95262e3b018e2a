"""Fake OpenAI Chat Completions: `POST /v1/chat/completions`, plain and streamed."""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

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
        app.router.add_post("/v1/chat/completions", handler)

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

    def completion(self, request: web.Request, body: dict[str, Any], d: Directives) -> web.Response:
        return json_response(
            {
                "id": new_id("chatcmpl-", 29),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": dated_model(str(body["model"])),
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": d.text,
                            "refusal": None,
                            "annotations": [],
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage(d),
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
            },
            headers=self._headers(),
        )

    def stream_plan(self, request: web.Request, body: dict[str, Any], d: Directives) -> StreamPlan:
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

        tail = [chunk({}, "stop")]
        if with_usage:
            tail.append(sse({**base, "choices": [], "usage": usage(d)}, eol))
        tail.append(sse(b"[DONE]", eol))
        return StreamPlan(
            head=[chunk({"role": "assistant", "content": "", "refusal": None})],
            deltas=[chunk({"content": piece}) for piece in split_text(d.text)],
            tail=tail,
            error=sse(error_body(*SERVER_ERROR[:2], None), eol),
            headers=self._headers(),
        )

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"x-request-id": new_id("req_", 32), "openai-processing-ms": "1"}
