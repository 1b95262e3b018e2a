"""Finish reasons, mapped from each provider's words to the four the contract has."""

from __future__ import annotations

STANDARD = ("stop", "length", "tool_calls", "content_filter")
MAPPED = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "function_call": "tool_calls",
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def standard_finish(raw: str | None, *, tool_calls: bool) -> str:
    """`stop` | `length` | `tool_calls` | `content_filter`. A provider that says only "stop"
    while it called tools (Gemini) ended on tool calls."""
    finish = raw if raw in STANDARD else MAPPED.get(raw or "", "stop")
    return "tool_calls" if tool_calls and finish == "stop" else finish
