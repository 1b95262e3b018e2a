"""An incremental Server-Sent Events reader: any line ending, reads split anywhere (even inside
a UTF-8 character or between \\r and \\n), linear in the stream's length and bounded."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import orjson

from core import errors

# Line breaks are ASCII bytes, never part of a multi-byte UTF-8 character: splitting the raw
# bytes and decoding each finished line reads the same text as decoding the stream first.
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
# A provider's events are a few KiB; a line or an event beyond this is a broken or hostile
# upstream, and holding it would let one call take the worker's memory.
MAX_SSE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str  # "message" when the stream named none
    data: str


class SSEParser:
    """Feed bytes as they arrive; get back the events they complete (per the WHATWG spec).

    Each byte is scanned for line breaks once, when it arrives: an unfinished line waits in a
    buffer that is only appended to, so a long line costs linear, not quadratic, time."""

    def __init__(self, provider: str = "the upstream", max_bytes: int = MAX_SSE_BYTES) -> None:
        self._provider = provider
        self._max_bytes = max_bytes
        self._tail = bytearray()  # an unfinished line
        self._skip_lf = False  # the last chunk ended in \r: a leading \n is its other half
        self._event = ""
        self._data: list[str] = []
        self._data_bytes = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf and chunk:
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
            self._skip_lf = False
        if not chunk:
            return []
        self._skip_lf = chunk[-1:] == b"\r"
        lines = _LINE_BREAK.split(chunk)  # only the new bytes are scanned
        last = lines.pop()
        events: list[SSEEvent] = []
        if lines and self._tail:
            self._tail += lines[0]
            lines[0] = bytes(self._tail)
            self._tail.clear()
        for line in lines:
            self._check(len(line), "line")
            event = self._line(line.decode("utf-8", "replace"), len(line))
            if event is not None:
                events.append(event)
        self._tail += last
        self._check(len(self._tail), "line")
        return events

    def _check(self, size: int, what: str) -> None:
        if size > self._max_bytes:
            limit = f"{self._max_bytes // (1024 * 1024)} MiB"
            raise errors.UpstreamError(f"{self._provider} sent an SSE {what} over {limit}")

    def _line(self, line: str, size: int) -> SSEEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SSEEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data, self._data_bytes = "", [], 0
            return event
        if line[0] == ":":
            return None
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_bytes += size
            self._check(self._data_bytes, "event")
        elif name == "event":
            self._event = value
        return None


async def read_events(
    response: aiohttp.ClientResponse, provider: str = "the upstream"
) -> AsyncIterator[SSEEvent]:
    """The events of an upstream response body; an incomplete last event is dropped (spec).
    The caller translates client errors (proxy.providers.upstream_errors)."""
    parser = SSEParser(provider)
    async for chunk in response.content.iter_any():
        for event in parser.feed(chunk):
            yield event


def event_json(event: SSEEvent, provider: str) -> dict:
    """The event's data as a JSON object; anything else is the upstream's failure."""
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise errors.UpstreamError(f"{provider} sent a malformed stream event") from None
    if not isinstance(data, dict):
        raise errors.UpstreamError(f"{provider} sent a malformed stream event")
    return data
