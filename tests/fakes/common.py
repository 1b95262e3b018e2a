"""Shared machinery of the fake upstreams: directives, recording, and the stream writers."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from aiohttp import web
from multidict import CIMultiDict

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream"
_WORD_PIECES = re.compile(r"\s*\S+\s*")

# FakeUpstream's request handler: handler(request, stream=None, provider=None) -> response;
# `provider` serves one route with another endpoint's rules (e.g. OpenAI's /v1/responses).
Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class Directives:
    """What the last user message asked for, from its `fake:NAME[=VALUE]` tokens.

    text=Hello_world (underscores are spaces), usage=IN,OUT, cached=N, cache_write=N,
    reasoning=N, error=STATUS, slow=SECONDS, stall=SECONDS, tools=N, and the flags
    mid-stream-error, cut, early-end, crlf, lf, tiny-reads, call-ids, thought-signature,
    malformed-tool, incomplete (the answer stopped at its output limit) and error-event (with
    mid-stream-error: the Responses API's `error` event instead of `response.failed`).
    `text_set` and `usage_set` say whether text= and usage= were given.
    """

    text: str
    input_tokens: int = 10
    output_tokens: int = 0
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0
    error: int | None = None
    mid_stream_error: bool = False
    cut: bool = False
    early_end: bool = False
    crlf: bool = False
    lf: bool = False
    tiny_reads: bool = False
    slow: float = 0.0
    stall: float = 0.0
    tools: int = 0
    call_ids: bool = False
    thought_signature: bool = False
    malformed_tool: bool = False
    incomplete: bool = False
    error_event: bool = False
    text_set: bool = False
    usage_set: bool = False

    @property
    def failing(self) -> bool:
        """True when the stream must stop after some deltas instead of finishing."""
        return self.mid_stream_error or self.cut or self.early_end


_FLAGS = {
    "mid_stream_error",
    "cut",
    "early_end",
    "crlf",
    "lf",
    "tiny_reads",
    "call_ids",
    "thought_signature",
    "malformed_tool",
    "incomplete",
    "error_event",
}
_INTS = {"cached", "cache_write", "reasoning", "error", "tools"}
_FLOATS = {"slow", "stall"}


def parse_directives(message: str, default_text: str) -> Directives:
    """Reads the directives of a message; unknown or malformed ones are ignored."""
    d = Directives(text=default_text)
    usage: tuple[int, int] | None = None
    for token in message.split():
        if not token.startswith("fake:"):
            continue
        name, _, value = token[5:].partition("=")
        attr = name.replace("-", "_")
        try:
            if name == "text":
                d.text = value.replace("_", " ")
                d.text_set = True
            elif name == "usage":
                first, second = value.split(",")
                usage = (int(first), int(second))
            elif attr in _FLAGS:
                setattr(d, attr, True)
            elif attr in _INTS:
                setattr(d, attr, int(value))
            elif attr in _FLOATS:
                setattr(d, attr, float(value))
        except ValueError:
            continue
    if d.error is not None and not 400 <= d.error <= 599:
        d.error = None
    d.input_tokens, d.output_tokens = usage or (10, len(d.text.split()))
    d.usage_set = usage is not None
    return d


def with_text(d: Directives, text: str) -> Directives:
    """`d` answering `text` instead: the default output count follows the new text."""
    out = d.output_tokens if d.usage_set else len(text.split())
    return dataclasses.replace(d, text=text, output_tokens=out)


def with_output(d: Directives, default_output: int) -> Directives:
    """`d` with `default_output` output tokens unless usage= set them."""
    out = d.output_tokens if d.usage_set else default_output
    return dataclasses.replace(d, output_tokens=out)


def split_text(text: str) -> list[str]:
    """Splits a reply into stream deltas: one per word with its spaces, at least 3 if possible."""
    pieces = _WORD_PIECES.findall(text)
    if "".join(pieces) == text and len(pieces) >= 3:
        return pieces
    size = max(1, len(text) // 3)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type=JSON_TYPE, headers=headers)


def sse(data: Any, eol: bytes = b"\n", event: str | None = None) -> bytes:
    """One server-sent event; `data` is JSON-encoded unless it is already bytes."""
    payload = data if isinstance(data, bytes) else dumps(data)
    head = b"event: " + event.encode() + eol if event else b""
    return head + b"data: " + payload + eol + eol


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + uuid.uuid4().hex[:length]


@dataclass(slots=True)
class RecordedRequest:
    """A request the fake received, before any check."""

    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes
    json: Any


@dataclass(slots=True)
class StreamPlan:
    """The encoded pieces of one streamed answer; `send_stream` decides which of them go out."""

    head: list[bytes]
    deltas: list[bytes]
    tail: list[bytes]
    error: bytes
    content_type: str = SSE_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def kept_deltas(count: int) -> int:
    """How many of `count` deltas a failing stream sends before it stops."""
    return max(1, min(count - 1, count // 2))


async def _write(resp: web.StreamResponse, data: bytes, tiny: bool) -> None:
    if not tiny:
        await resp.write(data)
        return
    pos, step = 0, 1
    while pos < len(data):
        await resp.write(data[pos : pos + step])
        await asyncio.sleep(0)  # let the reader see this piece on its own
        pos += step
        step = step % 3 + 1


async def send_stream(request: web.Request, d: Directives, plan: StreamPlan) -> web.StreamResponse:
    """Streams `plan`, honouring stall, tiny-reads and the three ways a stream can fail."""
    resp = web.StreamResponse(headers={"Cache-Control": "no-cache", **plan.headers})
    resp.content_type = plan.content_type
    deltas = plan.deltas
    if d.failing:
        deltas = deltas[: kept_deltas(len(deltas))]
    try:
        await resp.prepare(request)
        for event in plan.head:
            await _write(resp, event, d.tiny_reads)
        for i, event in enumerate(deltas):
            await _write(resp, event, d.tiny_reads)
            if i == 0 and d.stall:
                await asyncio.sleep(d.stall)
        if d.cut:
            # Abort: the chunked body is never terminated, like a dropped connection.
            if request.transport is not None:
                request.transport.abort()
            return resp
        if d.mid_stream_error:
            await _write(resp, plan.error, d.tiny_reads)
        elif not d.early_end:
            for event in plan.tail:
                await _write(resp, event, d.tiny_reads)
        await resp.write_eof()
    except ConnectionError:
        pass  # the client went away: nothing left to do
    return resp


class FakeProvider(ABC):
    """One provider's wire format; `FakeUpstream` runs the common request flow around it."""

    name: ClassVar[str]
    url_prefix: ClassVar[str] = ""

    @property
    def default_text(self) -> str:
        return f"Hello from the fake {self.name}!"

    @abstractmethod
    def add_routes(self, app: web.Application, handler: Handler) -> None:
        """Registers `handler(request, stream)` on the provider's routes (`stream` may be None)."""

    @abstractmethod
    def auth_error(self, request: web.Request) -> web.Response | None:
        """The provider's answer to a missing or invalid key, or None when the key is fine."""

    @abstractmethod
    def body_error(self, body: Any) -> web.Response | None:
        """The provider's answer to an unusable request body, or None."""

    @abstractmethod
    def last_user_text(self, body: dict[str, Any]) -> str: ...

    def conversation_error(self, body: dict[str, Any], d: Directives) -> web.Response | None:
        """The provider's 400 for a conversation it would refuse (tool turns, images), or None."""
        return None

    @abstractmethod
    def error_response(self, status: int) -> web.Response: ...

    @abstractmethod
    def is_stream(
        self, request: web.Request, body: dict[str, Any], stream: bool | None
    ) -> bool: ...

    @abstractmethod
    def completion(
        self, request: web.Request, body: dict[str, Any], d: Directives
    ) -> web.Response: ...

    @abstractmethod
    def stream_plan(
        self, request: web.Request, body: dict[str, Any], d: Directives
    ) -> StreamPlan: ...
