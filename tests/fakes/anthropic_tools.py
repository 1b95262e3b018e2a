"""The fake Anthropic's reading of tools, tool turns, JSON output and images, and its 400s."""

from __future__ import annotations

from typing import Any

from . import images
from .common import Directives
from .tools import ToolSpec, Turn, content_text, json_answer

ALTERNATE = (
    'messages: roles must alternate between "user" and "assistant", but found multiple "{role}"'
    " roles in a row"
)
NO_RESULT = (
    "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after:"
    " {ids}. Each `tool_use` block must have a corresponding `tool_result` block in the next"
    " message."
)
UNEXPECTED = (
    "messages.{i}.content.{k}: unexpected `tool_use_id` found in `tool_result` blocks: {id}."
    " Each `tool_result` block must have a corresponding `tool_use` block in the previous"
    " message."
)
MEDIA_TYPE = (
    "messages.{i}.content.{k}.image.source.base64.media_type: Input should be 'image/jpeg',"
    " 'image/png', 'image/gif' or 'image/webp'"
)
MISMATCH = (
    "messages.{i}.content.{k}.image.source.base64: The image was specified using the {declared}"
    " media type, but the image appears to be a {actual} image"
)
UNREADABLE = "messages.{i}.content.{k}.image.source.base64.data: Could not process image"


def _blocks(message: Any, kind: str) -> list[tuple[int, dict[str, Any]]]:
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return []
    return [(k, b) for k, b in enumerate(content) if isinstance(b, dict) and b.get("type") == kind]


def conversation_error(body: dict[str, Any]) -> str | None:
    """The message of Anthropic's 400 for this conversation, or None.

    Roles alternate; each assistant turn's tool_use ids are all answered by tool_result blocks
    of the very next (user) message, and each tool_result answers a tool_use of the message just
    before; base64 images are images of their declared media type.
    """
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    for i in range(1, len(messages)):
        if messages[i].get("role") == messages[i - 1].get("role"):
            return ALTERNATE.format(role=messages[i].get("role"))
    for i, message in enumerate(messages):
        asked = [str(b.get("id")) for _, b in _blocks(message, "tool_use")]
        if message.get("role") == "assistant" and asked:
            following = messages[i + 1] if i + 1 < len(messages) else {}
            answered = {str(b.get("tool_use_id")) for _, b in _blocks(following, "tool_result")}
            missing = [a for a in asked if a not in answered]
            if missing:
                return NO_RESULT.format(i=i, ids=", ".join(missing))
        previous = messages[i - 1] if i else {}
        known = {str(b.get("id")) for _, b in _blocks(previous, "tool_use")}
        for k, block in _blocks(message, "tool_result"):
            if str(block.get("tool_use_id")) not in known:
                return UNEXPECTED.format(i=i, k=k, id=block.get("tool_use_id"))
        for k, block in _blocks(message, "image"):
            problem = _image_problem(block.get("source"))
            if problem:
                return problem.format(i=i, k=k)
    return None


def _image_problem(source: Any) -> str | None:
    if not isinstance(source, dict) or source.get("type") != "base64":
        return None
    declared = source.get("media_type")
    if declared not in images.MEDIA_TYPES:
        return MEDIA_TYPE
    raw = images.b64decode(str(source.get("data", "")))
    found = images.sniff(raw) if raw is not None else None
    if found is None:
        return UNREADABLE
    if found[0] != declared:
        return MISMATCH.replace("{declared}", declared).replace("{actual}", found[0])
    return None


def _image_entries(message: Any) -> list[str]:
    entries: list[str] = []
    for _, block in _blocks(message, "image"):
        source = block.get("source")
        if not isinstance(source, dict):
            continue
        if source.get("type") == "url":
            entries.append(images.url_entry(str(source.get("url"))))
        elif source.get("type") == "base64":
            raw = images.b64decode(str(source.get("data", ""))) or b""
            entries.append(images.entry(str(source.get("media_type")), raw) or "?")
    return entries


def is_results_only(message: Any) -> bool:
    """A user message of tool results with no text of its own."""
    return bool(_blocks(message, "tool_result")) and not _blocks(message, "text")


def read_turn(body: dict[str, Any], d: Directives) -> Turn:
    turn = Turn()
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict) and "input_schema" in tool:
            turn.specs.append(ToolSpec(str(tool.get("name")), tool["input_schema"]))
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "none":
            turn.mode = "none"
        elif kind == "any":
            turn.mode = "forced"
        elif kind == "tool":
            turn.mode, turn.allowed = "forced", [str(choice.get("name"))]
        turn.single = choice.get("disable_parallel_tool_use") is True
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    last = messages[-1] if messages else {}
    if last.get("role") == "user" and _blocks(last, "tool_result"):
        turn.results = [content_text(b.get("content")) for _, b in _blocks(last, "tool_result")]
    output = body.get("output_format")
    config = body.get("output_config")
    if not isinstance(output, dict) and isinstance(config, dict):
        output = config.get("format")
    if isinstance(output, dict) and output.get("type") == "json_schema":
        turn.json_text = json_answer(output.get("schema"), d.text)
    if last.get("role") == "user":
        turn.images = _image_entries(last)
    return turn
