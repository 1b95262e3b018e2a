"""Fake Gemini API: `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from aiohttp import web

from .common import (
    JSON_TYPE,
    Directives,
    FakeProvider,
    Handler,
    StreamPlan,
    dumps,
    json_response,
    new_id,
    split_text,
    sse,
)

API_KEY_INVALID = {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT",
    "details": [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
    ],
}
NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity)."
    " Please use API Key or other form of API consumer identity to call this API."
)
INTERNAL = (
    "An internal error has occurred. Please retry or report in"
    " https://developers.generativeai.google/guide/troubleshooting"
)
# status -> (status name, message); 400 is the API_KEY_INVALID body above
ERRORS: dict[int, tuple[str, str]] = {
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token,"
        " login cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "The requested model is not found or is not supported."),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For more"
        " information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    ),
    500: ("INTERNAL", INTERNAL),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


def error_json(code: int, status: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message, "status": status}}, code)


def usage(d: Directives, candidates: int) -> dict[str, Any]:
    """usageMetadata as the real API sends it: zero counts are left out."""
    counts: dict[str, Any] = {
        "promptTokenCount": d.input_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": d.input_tokens + candidates + d.reasoning,
        "cachedContentTokenCount": d.cached,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": d.input_tokens}],
        "thoughtsTokenCount": d.reasoning,
    }
    if d.cached:
        counts["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": d.cached}]
    return {k: v for k, v in counts.items() if v != 0}


class GeminiProvider(FakeProvider):
    name = "gemini"

    def add_routes(self, app: web.Application, handler: Handler) -> None:
        for version in ("v1beta", "v1"):
            prefix = f"/{version}/models/{{model}}"
            app.router.add_post(prefix + ":generateContent", partial(handler, stream=False))
            app.router.add_post(prefix + ":streamGenerateContent", partial(handler, stream=True))

    def auth_error(self, request: web.Request) -> web.Response | None:
        key = (request.headers.get("x-goog-api-key") or request.query.get("key") or "").strip()
        if not key:
            return error_json(403, "PERMISSION_DENIED", NO_KEY)
        if key == "bad-key":
            return self.error_response(400)
        return None

    def body_error(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            message = "Invalid JSON payload received. Unexpected token."
            return error_json(400, "INVALID_ARGUMENT", message)
        if not isinstance(body.get("contents"), list) or not body["contents"]:
            message = "* GenerateContentRequest.contents: contents is not specified\n"
            return error_json(400, "INVALID_ARGUMENT", message)
        return None

    def last_user_text(self, body: dict[str, Any]) -> str:
        for content in reversed(body["contents"]):
            if isinstance(content, dict) and content.get("role", "user") == "user":
                parts = content.get("parts")
                if not isinstance(parts, list):
                    return ""
                return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
        return ""

    def error_response(self, status: int) -> web.Response:
        if status == 400:
            return json_response({"error": API_KEY_INVALID}, 400)
        default = (
            ERRORS[500]
            if status >= 500
            else ("INVALID_ARGUMENT", "Request contains an invalid argument.")
        )
        return error_json(status, *ERRORS.get(status, default))

    def is_stream(self, request: web.Request, body: dict[str, Any], stream: bool | None) -> bool:
        return bool(stream)

    def completion(self, request: web.Request, body: dict[str, Any], d: Directives) -> web.Response:
        model = request.match_info["model"]
        return json_response(self._chunk(d.text, d, model, new_id(""), d.output_tokens, final=True))

    def stream_plan(self, request: web.Request, body: dict[str, Any], d: Directives) -> StreamPlan:
        model, response_id = request.match_info["model"], new_id("")
        pieces = split_text(d.text)
        n = len(pieces)
        chunks = [
            self._chunk(
                piece,
                d,
                model,
                response_id,
                None if d.early_end else math.ceil(d.output_tokens * (i + 1) / n),
                final=i == n - 1,
            )
            for i, piece in enumerate(pieces)
        ]
        error = {"error": {"code": 500, "message": INTERNAL, "status": "INTERNAL"}}
        if request.query.get("alt") != "sse":  # a JSON array, written as it goes
            return StreamPlan(
                head=[b"["],
                deltas=[(b",\r\n" if i else b"") + dumps(c) for i, c in enumerate(chunks)],
                tail=[b"]"],
                error=b",\r\n" + dumps(error) + b"]",
                content_type=JSON_TYPE,
            )
        eol = b"\n" if d.lf else b"\r\n"
        return StreamPlan(
            head=[],
            deltas=[sse(c, eol) for c in chunks],
            tail=[],
            error=sse(error, eol),
        )

    @staticmethod
    def _chunk(
        text: str, d: Directives, model: str, response_id: str, candidates: int | None, final: bool
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if final:
            candidate["finishReason"] = "STOP"
        candidate["index"] = 0
        chunk: dict[str, Any] = {"candidates": [candidate]}
        if candidates is not None:
            chunk["usageMetadata"] = usage(d, candidates)
        chunk["modelVersion"] = model
        chunk["responseId"] = response_id
        return chunk
