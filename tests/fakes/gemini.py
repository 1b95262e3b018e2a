"""Fake Gemini API: `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from aiohttp import web

from . import gemini_tools
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
from .tools import Reply, decide

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

    def __init__(self) -> None:
        self.signatures = 0  # how many thought signatures this fake has issued

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
                if gemini_tools.is_results_only(content):
                    continue  # the directives stay those of the user's own words
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

    def conversation_error(self, body: dict[str, Any], d: Directives) -> web.Response | None:
        message = gemini_tools.conversation_error(body, d)
        return None if message is None else error_json(400, "INVALID_ARGUMENT", message)

    def reply(self, body: dict[str, Any], d: Directives) -> tuple[Reply, Directives]:
        return decide(gemini_tools.read_turn(body, d), d, lambda: new_id("", 8))

    def call_parts(self, reply: Reply, d: Directives) -> list[dict[str, Any]]:
        """Whole functionCall parts; an id only with `fake:call-ids`, a thoughtSignature on the
        first part only with `fake:thought-signature` (as Gemini 3 does)."""
        parts: list[dict[str, Any]] = []
        for call in reply.calls:
            function: dict[str, Any] = {"name": call.name, "args": call.args}
            if d.call_ids:
                function["id"] = call.id
            parts.append({"functionCall": function})
        if parts and d.thought_signature:
            self.signatures += 1
            parts[0]["thoughtSignature"] = gemini_tools.signature(
                self.signatures, reply.calls[0].name
            )
        return parts

    def completion(self, request: web.Request, body: dict[str, Any], d: Directives) -> web.Response:
        model = request.match_info["model"]
        reply, d = self.reply(body, d)
        if reply.malformed:
            return json_response(self._malformed(reply, d, model, new_id("")))
        finish = "STOP" if reply.calls or not d.incomplete else "MAX_TOKENS"
        parts = self.call_parts(reply, d) or [{"text": d.text}]
        return json_response(self._chunk(parts, d, model, new_id(""), d.output_tokens, finish))

    def stream_plan(self, request: web.Request, body: dict[str, Any], d: Directives) -> StreamPlan:
        model, response_id = request.match_info["model"], new_id("")
        reply, d = self.reply(body, d)
        out = None if d.early_end else d.output_tokens
        if reply.malformed:
            chunks = [self._malformed(reply, d, model, response_id)]
        elif reply.calls:  # all calls at once in one chunk, then the finish
            parts = self.call_parts(reply, d)
            chunks = [
                self._chunk(parts, d, model, response_id, out, None),
                self._chunk(None, d, model, response_id, out, "STOP"),
            ]
        else:
            pieces = split_text(d.text)
            n = len(pieces)
            chunks = [
                self._chunk(
                    [{"text": piece}],
                    d,
                    model,
                    response_id,
                    None if d.early_end else math.ceil(d.output_tokens * (i + 1) / n),
                    ("MAX_TOKENS" if d.incomplete else "STOP") if i == n - 1 else None,
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

    def _malformed(self, reply: Reply, d: Directives, model: str, response_id: str) -> dict:
        """A candidate with no content, finished MALFORMED_FUNCTION_CALL."""
        chunk = self._chunk(None, d, model, response_id, d.output_tokens, "MALFORMED_FUNCTION_CALL")
        chunk["candidates"][0]["finishMessage"] = (
            f"Malformed function call: call:{reply.malformed}{{city:}}"
        )
        return chunk

    @staticmethod
    def _chunk(
        parts: list[dict[str, Any]] | None,
        d: Directives,
        model: str,
        response_id: str,
        candidates: int | None,
        finish: str | None,
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {}
        if parts is not None:
            candidate["content"] = {"parts": parts, "role": "model"}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        chunk: dict[str, Any] = {"candidates": [candidate]}
        if candidates is not None:
            chunk["usageMetadata"] = usage(d, candidates)
        chunk["modelVersion"] = model
        chunk["responseId"] = response_id
        return chunk
