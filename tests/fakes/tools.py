"""What a fake answers, provider-neutral: tool calls, tool results, JSON, images, or text.

Each provider reads its own request into a `Turn`; `decide` picks the reply in this order:
1. `fake:malformed-tool` on a user turn -> a malformed tool call (each provider its own way);
2. a turn of tool results -> the text `Tool results: <r1>; <r2>`;
3. tools declared and either `fake:tools=N` (N >= 1) or a forced tool choice -> N calls (1 when
   forced without N; at most 1 when parallel calls are off), cycling through the declared tools
   in order (only the allowed ones when the choice names some), arguments `example(schema)`;
4. a JSON output request -> its JSON text;
5. images in the user turn, without `fake:text=` -> `I see N image(s): ...`;
6. the text (the directive's or the default).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from .common import Directives, with_output, with_text
from .images import describe
from .schema_values import example

MALFORMED_ARGUMENTS = '{"city": '
TOKENS_PER_CALL = 10  # the default output count of a tool call answer


@dataclass(slots=True, frozen=True)
class ToolSpec:
    name: str
    schema: Any


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    args: Any

    @property
    def arguments(self) -> str:
        """The arguments as compact JSON, as the APIs send them."""
        return orjson.dumps(self.args).decode()


@dataclass(slots=True)
class Turn:
    """What one request asks for, read by the provider."""

    specs: list[ToolSpec] = field(default_factory=list)
    mode: str = "auto"  # auto | none | forced
    allowed: list[str] | None = None  # forced or allowed names; None: all declared
    single: bool = False  # parallel tool calls off
    results: list[str] | None = None  # the tool results when the last turn holds them
    json_text: str | None = None  # the JSON answer when structured output is asked
    images: list[str] = field(default_factory=list)  # image entries of the last user turn


@dataclass(slots=True)
class Reply:
    text: str
    calls: list[ToolCall] = field(default_factory=list)
    malformed: str | None = None  # the tool name of a malformed call


def decide(turn: Turn, d: Directives, new_call_id: Any) -> tuple[Reply, Directives]:
    """The reply and the directives it is billed with; `new_call_id()` makes call ids."""
    if d.malformed_tool and turn.results is None:
        name = turn.specs[0].name if turn.specs else "get_weather"
        return Reply(text="", malformed=name), with_output(d, TOKENS_PER_CALL)
    if turn.results is not None:
        text = "Tool results: " + "; ".join(turn.results)
        return Reply(text=text), with_text(d, text)
    calls = plan_calls(turn, d.tools, new_call_id)
    if calls:
        return Reply(text="", calls=calls), with_output(d, TOKENS_PER_CALL * len(calls))
    if turn.json_text is not None:
        return Reply(text=turn.json_text), with_text(d, turn.json_text)
    if turn.images and not d.text_set:
        text = describe(turn.images)
        return Reply(text=text), with_text(d, text)
    return Reply(text=d.text), d


def plan_calls(turn: Turn, wanted: int, new_call_id: Any) -> list[ToolCall]:
    if turn.mode == "none" or not turn.specs:
        return []
    count = wanted if wanted >= 1 else (1 if turn.mode == "forced" else 0)
    if turn.single:
        count = min(count, 1)
    pool = [s for s in turn.specs if turn.allowed is None or s.name in turn.allowed]
    if not pool:
        return []
    return [
        ToolCall(new_call_id(), pool[i % len(pool)].name, example(pool[i % len(pool)].schema))
        for i in range(count)
    ]


def json_answer(schema: Any, text: str) -> str:
    """The JSON text of a structured answer (`json.dumps`): example(schema), or {"answer": text}
    without a schema."""
    value = example(schema) if isinstance(schema, dict) else {"answer": text}
    return json.dumps(value)


def fragments(text: str, parts: int = 3) -> list[str]:
    """`text` in at least 2 pieces (up to `parts`) when it has 2 characters or more."""
    size = max(1, math.ceil(len(text) / parts))
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    if len(pieces) < 2 and len(text) >= 2:
        pieces = [text[:1], text[1:]]
    return pieces or [""]


def content_text(content: Any) -> str:
    """A message's or tool result's content as text: a string, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    if content is None:
        return ""
    return orjson.dumps(content).decode()
