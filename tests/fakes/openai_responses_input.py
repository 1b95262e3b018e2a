"""The fake Responses API's reading of a request: input items, tools, text format, and its 400s."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import images
from .common import Directives
from .openai_tools import BAD_IMAGE, invalid
from .tools import ToolSpec, Turn, json_answer

TEXT_PARTS = ("input_text", "output_text", "text")
NO_CALL = "No tool call found for function call output with call_id {id}."
NO_OUTPUT = "No tool output found for function call {id}."
NO_PREVIOUS = "Previous response with id '{id}' not found."
BAD_INPUT = (
    "Invalid type for 'input': expected one of a string or array of input items, but got {kind}"
    " instead."
)


def items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The input as a list of items: a string input is one user message."""
    value = body.get("input")
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def kind(item: dict[str, Any]) -> str:
    """An item's type; an item with a role and no type is a message."""
    return str(item.get("type") or ("message" if "role" in item else ""))


def part_text(content: Any) -> str:
    """A message's (or an output's) text: a string, or its text parts joined by spaces."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return " ".join(
        str(p.get("text", ""))
        for p in content
        if isinstance(p, dict) and p.get("type", "input_text") in TEXT_PARTS
    )


def last_user_text(body: dict[str, Any]) -> str:
    for item in reversed(items(body)):
        if kind(item) == "message" and item.get("role") == "user":
            return part_text(item.get("content"))
    return ""


def type_error(body: dict[str, Any]) -> web.Response | None:
    """The 400 of a body whose `input` is neither a string nor a list."""
    value = body.get("input")
    if value is None or isinstance(value, str | list):
        return None
    name = {dict: "an object", int: "an integer", float: "a number", bool: "a boolean"}
    message = BAD_INPUT.format(kind=name.get(type(value), "an unsupported value"))
    return invalid(message, "input", "invalid_type")


def conversation_error(
    body: dict[str, Any], previous_calls: list[str] | None
) -> web.Response | None:
    """The Responses API's checks: a known previous response, every function_call_output answering
    a call (of the input or of the previous response), every call answered, images are images.

    `previous_calls` are the call ids of the previous response, None when it is unknown."""
    previous_id = body.get("previous_response_id")
    if previous_id is not None and previous_calls is None:
        message = NO_PREVIOUS.format(id=previous_id)
        return invalid(message, "previous_response_id", "previous_response_not_found")
    calls = list(previous_calls or [])
    answered: set[str] = set()
    for item in items(body):
        if kind(item) == "function_call":
            calls.append(str(item.get("call_id")))
        elif kind(item) == "function_call_output":
            call_id = str(item.get("call_id"))
            if call_id not in calls:
                return invalid(NO_CALL.format(id=call_id), "input")
            answered.add(call_id)
        elif kind(item) == "message" and image_entries(item) is None:
            return invalid(BAD_IMAGE, None, "invalid_image_format")
    for call_id in calls:
        if call_id not in answered:
            return invalid(NO_OUTPUT.format(id=call_id), "input")
    return None


def image_entries(message: dict[str, Any]) -> list[str] | None:
    """The `input_image` entries of a message; None when a data URI holds no image."""
    content = message.get("content")
    entries: list[str] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict) or part.get("type") != "input_image":
            continue
        url, detail = str(part.get("image_url") or ""), part.get("detail")
        if not url and part.get("file_id"):
            entries.append(images.url_entry("file:" + str(part["file_id"]), detail))
            continue
        inline = images.data_uri(url)
        if inline is None:
            if url.startswith("data:"):
                return None
            entries.append(images.url_entry(url, detail))
            continue
        described = images.entry(inline[0], inline[1], detail)
        if described is None:
            return None
        entries.append(described)
    return entries


def tool_specs(body: dict[str, Any]) -> list[ToolSpec]:
    tools = body.get("tools")
    return [
        ToolSpec(str(tool.get("name")), tool.get("parameters") or {})
        for tool in (tools if isinstance(tools, list) else [])
        if isinstance(tool, dict) and tool.get("type") == "function"
    ]


def _choice(turn: Turn, choice: Any) -> None:
    """Reads `tool_choice`: none / auto / required, {"type": "function", "name"} or
    {"type": "allowed_tools", "mode", "tools"}."""
    if choice == "none":
        turn.mode = "none"
    elif choice == "required":
        turn.mode = "forced"
    elif isinstance(choice, dict) and choice.get("type") == "function":
        turn.mode, turn.allowed = "forced", [str(choice.get("name"))]
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("tools")
        turn.allowed = [
            str(t.get("name")) for t in (allowed if isinstance(allowed, list) else []) if t
        ]
        turn.mode = "forced" if choice.get("mode") == "required" else "auto"


def read_turn(body: dict[str, Any], d: Directives) -> Turn:
    turn = Turn(specs=tool_specs(body))
    _choice(turn, body.get("tool_choice"))
    turn.single = body.get("parallel_tool_calls") is False
    listed = items(body)
    results: list[str] = []
    for item in reversed(listed):  # the outputs after the last message answer the calls
        if kind(item) == "message":
            break
        if kind(item) == "function_call_output":
            results.insert(0, part_text(item.get("output")))
    if results:
        turn.results = results
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        turn.json_text = json_answer(fmt.get("schema"), d.text)
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        turn.json_text = json_answer(None, d.text)
    for item in reversed(listed):
        if kind(item) == "message" and item.get("role") == "user":
            turn.images = image_entries(item) or []
            break
    return turn
