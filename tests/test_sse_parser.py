"""The gateway's incremental SSE reader, fed the way networks deliver: split anywhere."""

from __future__ import annotations

import pytest

from proxy.providers.sse import SSEEvent, SSEParser

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
