"""An incremental Server-Sent Events reader: any line ending, reads split anywhere (even inside
a UTF-8 character or between \\r and \\n)."""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import orjson

from core import errors

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str  # "message" when the stream named none
    data: str


class SSEParser:
    """Feed bytes as they arrive; get back the events they complete (per the WHATWG spec)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = ""  # an unfinished line
        self._skip_lf = False  # the last chunk ended in \r: a leading \n is its other half
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        text = self._decoder.decode(chunk)
        if self._skip_lf and text:
            if text[0] == "\n":
                text = text[1:]
            self._skip_lf = False
        if not text:
            return []
        if text[-1] == "\r":
            self._skip_lf = True
        lines = _LINE_BREAK.split(self._tail + text)
        self._tail = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SSEEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line[0] == ":":
            return None
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


async def read_events(response: aiohttp.ClientResponse) -> AsyncIterator[SSEEvent]:
    """The events of an upstream response body; an incomplete last event is dropped (spec).
    The caller translates client errors (proxy.providers.upstream_errors)."""
    parser = SSEParser()
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
