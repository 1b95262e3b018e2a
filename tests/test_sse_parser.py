"""The gateway's incremental SSE reader, fed the way networks deliver: split anywhere."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from core import errors
from proxy.providers import sse
from proxy.providers.sse import SSEEvent, SSEParser
from proxy.routes.sse import encode_frame

STREAM = (
    'event: message_start\ndata: {"a": 1}\n\n'
    ": a comment line\n\n"
    "data: first line\ndata: second line\n\n"
    "event: delta\ndata:no-space\n\n"
    "data: ünïcödé ✓ 日本\n\n"
)
EXPECTED = [
    SSEEvent("message_start", '{"a": 1}'),
    SSEEvent("message", "first line\nsecond line"),
    SSEEvent("delta", "no-space"),
    SSEEvent("message", "ünïcödé ✓ 日本"),
]


def feed_all(parser: SSEParser, chunks: list[bytes]) -> list[SSEEvent]:
    return [event for chunk in chunks for event in parser.feed(chunk)]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_any_line_ending(newline: str) -> None:
    raw = STREAM.replace("\n", newline).encode()
    assert feed_all(SSEParser(), [raw]) == EXPECTED


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_split_at_every_byte(newline: str) -> None:
    raw = STREAM.replace("\n", newline).encode()
    assert feed_all(SSEParser(), [raw[i : i + 1] for i in range(len(raw))]) == EXPECTED


def test_split_at_every_position_in_two() -> None:
    raw = STREAM.replace("\n", "\r\n").encode()
    for cut in range(len(raw) + 1):
        assert feed_all(SSEParser(), [raw[:cut], raw[cut:]]) == EXPECTED, cut


def test_an_unfinished_event_is_not_delivered() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: complete\n\ndata: cut off mid-ev") == [
        SSEEvent("message", "complete")
    ]
    assert parser.feed(b"ent") == []


def test_crlf_split_between_cr_and_lf_is_one_line_break() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n\r") == [SSEEvent("message", "x")]
    assert parser.feed(b"\n") == []  # the \r\n pair ended one empty line, not two


class CountingPattern:
    """Stands in for the reader's line-break pattern and counts what it is asked to scan."""

    def __init__(self, pattern: re.Pattern) -> None:
        self.pattern = pattern
        self.scanned = 0

    def split(self, text: str | bytes) -> list:
        self.scanned += len(text)
        return self.pattern.split(text)


def test_a_long_line_in_small_reads_is_scanned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = CountingPattern(sse._LINE_BREAK)
    monkeypatch.setattr(sse, "_LINE_BREAK", counting)
    value = "x" * (3 * 1024 * 1024)
    raw = f"event: big\r\ndata: {value}\r\n\r\n".encode()
    chunks = [raw[i : i + 4096] for i in range(0, len(raw), 4096)]
    assert feed_all(SSEParser(), chunks) == [SSEEvent("big", value)]
    # The old reader rescanned the unfinished line on every read: ~768 × 1.5 MiB on average.
    assert counting.scanned <= len(raw)


def test_random_reads_give_the_events_of_one_read() -> None:
    long_value = "ü" * 100_000  # two bytes each: reads split inside characters too
    stream = (
        STREAM + f"data: {long_value}\ndata: tail\n\n: comment\n"
        "event: x\ndata: y\n\ndata: never finished"
    ).replace("\n", "\r\n")
    raw = stream.encode()
    expected = [*EXPECTED, SSEEvent("message", long_value + "\ntail"), SSEEvent("x", "y")]
    assert feed_all(SSEParser(), [raw]) == expected
    chooser = random.Random(12)
    for _ in range(20):
        cuts = sorted(chooser.sample(range(1, len(raw)), 300))
        chunks = [raw[a:b] for a, b in itertools.pairwise([0, *cuts, len(raw)])]
        assert feed_all(SSEParser(), chunks) == expected


def test_a_line_over_the_bound_is_the_upstreams_error() -> None:
    parser = SSEParser("openai")
    chunk = b"data: " + b"x" * (64 * 1024)
    with pytest.raises(errors.UpstreamError, match="openai sent an SSE line over 4 MiB"):
        for _ in range(5 * 16):  # 5 MiB, never a line break
            parser.feed(chunk)


def test_a_line_of_exactly_the_bound_passes() -> None:
    parser = SSEParser("openai", max_bytes=1024)
    line = b"data: " + b"x" * (1024 - 6)
    assert parser.feed(line + b"\n\n") == [SSEEvent("message", "x" * 1018)]
    with pytest.raises(errors.UpstreamError, match="line over"):
        parser.feed(line + b"xx\n")  # complete in one read, still too long


def test_an_event_over_the_bound_is_the_upstreams_error() -> None:
    parser = SSEParser("gemini", max_bytes=1024)
    with pytest.raises(errors.UpstreamError, match="gemini sent an SSE event over"):
        for _ in range(20):  # each line is small; together they are not
            parser.feed(b"data: " + b"y" * 100 + b"\n")


def test_the_frames_the_gateway_writes_read_back_as_the_events_it_meant() -> None:
    """What the gateway sends its clients (proxy/routes/sse.py) is what an SSE reader gets,
    however many frames share one write: event names, multi-line data, any line ending."""
    frames = [(None, '{"a": 1}'), ("message_stop", "{}"), (None, "two\nlines"),
              ("e", "crlf\r\nand\rcr"), (None, "[DONE]")]  # fmt: skip
    written = b"".join(encode_frame(name, data) for name, data in frames)
    assert SSEParser().feed(written) == [
        SSEEvent("message", '{"a": 1}'),
        SSEEvent("message_stop", "{}"),
        SSEEvent("message", "two\nlines"),
        SSEEvent("e", "crlf\nand\ncr"),
        SSEEvent("message", "[DONE]"),
    ]
