"""The fake OpenAI's reading of tools, tool turns, response_format and images, and its 400s."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import images
from .common import Directives, json_response
from .tools import ToolSpec, Turn, content_text, json_answer

NOT_A_RESPONSE = (
    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message"
    " with 'tool_calls'."
)
UNANSWERED = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to each"
    " 'tool_call_id'. The following tool_call_ids did not have response messages: {ids}"
)
UNKNOWN_ID = (
    "Invalid parameter: 'tool_call_id' of '{id}' not found in 'tool_calls' of previous message."
)
BAD_IMAGE = (
    "You uploaded an unsupported image. Please make sure your image has of one the following"
    " formats: ['png', 'jpeg', 'gif', 'webp']."
)


def invalid(message: str, param: str | None, code: str | None = None) -> web.Response:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json_response({"error": error}, 400)


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if isinstance(m, dict)]


def _call_ids(message: dict[str, Any]) -> list[str]:
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return []
    return [str(c.get("id")) for c in calls if isinstance(c, dict)]


def conversation_error(body: dict[str, Any]) -> web.Response | None:
    """OpenAI's checks: each tool message answers a call of the assistant message before it, every
    call is answered, and data-URI images are images."""
    previous: list[str] | None = None  # the call ids tool messages may answer here
    pending: list[str] = []
    asked_at = 0
    for i, message in enumerate(_messages(body)):
        role = message.get("role")
        if role == "tool":
            if previous is None:
                return invalid(NOT_A_RESPONSE, f"messages.[{i}].role")
            call_id = str(message.get("tool_call_id"))
            if call_id not in previous:
                return invalid(UNKNOWN_ID.format(id=call_id), f"messages.[{i}].tool_call_id")
            if call_id in pending:
                pending.remove(call_id)
            continue
        if pending:
            return invalid(UNANSWERED.format(ids=", ".join(pending)), f"messages.[{asked_at}].role")
        previous = None
        if role == "assistant" and (ids := _call_ids(message)):
            previous, pending, asked_at = ids, list(ids), i
        if role == "user" and _image_entries(message) is None:
            return invalid(BAD_IMAGE, None, "invalid_image_format")
    if pending:
        return invalid(UNANSWERED.format(ids=", ".join(pending)), f"messages.[{asked_at}].role")
    return None


def _image_entries(message: dict[str, Any]) -> list[str] | None:
    """The image entries of a user message; None when a data URI holds no image."""
    content = message.get("content")
    entries: list[str] = []
    if not isinstance(content, list):
        return entries
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        image = part.get("image_url")
        image = image if isinstance(image, dict) else {"url": image}
        url, detail = str(image.get("url", "")), image.get("detail")
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


def read_turn(body: dict[str, Any], d: Directives) -> Turn:
    turn = Turn()
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type", "function") == "function" and isinstance(function, dict):
            turn.specs.append(ToolSpec(str(function.get("name")), function.get("parameters", {})))
    choice = body.get("tool_choice")
    if choice == "none":
        turn.mode = "none"
    elif choice == "required":
        turn.mode = "forced"
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        turn.mode, turn.allowed = "forced", [str(choice["function"].get("name"))]
    turn.single = body.get("parallel_tool_calls") is False
    messages = _messages(body)
    if messages and messages[-1].get("role") == "tool":
        results: list[str] = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            results.insert(0, content_text(message.get("content")))
        turn.results = results
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        turn.json_text = json_answer(spec.get("schema") if isinstance(spec, dict) else None, d.text)
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        turn.json_text = json_answer(None, d.text)
    for message in reversed(messages):
        if message.get("role") == "user":
            turn.images = _image_entries(message) or []
            break
    return turn
