"""The fake Gemini's reading of function declarations, function turns, JSON output and images,
its thought signatures, and its 400s."""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson

from . import images
from .common import Directives
from .tools import ToolSpec, Turn, json_answer

NOT_AFTER_CALL = (
    "Please ensure that function response turn comes immediately after a function call turn."
)
COUNT = (
    "Please ensure that the number of function response parts is equal to the number of function"
    " call parts of the function call turn."
)
# the fake's own wording: the real API's message for this case is not documented
NO_MATCH = (
    "Please ensure that the function response part `{name}` at position {position} matches the"
    " name (and id, when it has one) of a function call part of the function call turn."
)
MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for"
    " tools to work correctly, and missing thought_signature may lead to degraded model"
    " performance. Additional data, function call `default_api:{name}` , position {position}."
    " Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
CORRUPTED_SIGNATURE = "Corrupted thought signature."
_SIGNATURE = re.compile(r"sig-\d+-(.+)")


def get(obj: Any, camel: str) -> Any:
    """A field by its camelCase name or its snake_case one (the API takes both)."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel))


def _parts(content: Any, kind: str) -> list[dict[str, Any]]:
    parts = get(content, "parts")
    if not isinstance(parts, list):
        return []
    return [p for p in parts if isinstance(p, dict) and isinstance(get(p, kind), dict)]


def signature(n: int, name: str) -> str:
    """The thoughtSignature the fake issues: base64 (a bytes field) of `sig-<n>-<name>`."""
    return base64.b64encode(f"sig-{n}-{name}".encode()).decode("ascii")


def signed_name(value: Any) -> str | None:
    """The function name in a signature the fake issued (base64 or plain), or None."""
    if not isinstance(value, str):
        return None
    raw = images.b64decode(value)
    for text in (raw.decode("utf-8", "replace") if raw else "", value):
        match = _SIGNATURE.fullmatch(text)
        if match:
            return match.group(1)
    return None


def is_results_only(content: Any) -> bool:
    """A non-model turn of function responses with no text of its own."""
    texts = [p for p in get(content, "parts") or [] if isinstance(p, dict) and "text" in p]
    return bool(_parts(content, "functionResponse")) and not texts


def conversation_error(body: dict[str, Any], d: Directives) -> str | None:
    """The message of Gemini's 400 for this conversation, or None.

    A function response turn follows a function call turn with as many parts, each response
    matching a call by id (when it has one) or else by name, and a call with an id answered
    with that id. With `fake:thought-signature`, the first functionCall part of every model turn
    must carry a signature the fake issued for that function.
    """
    contents = [c for c in body["contents"] if isinstance(c, dict)]
    for j, content in enumerate(contents):
        if content.get("role") == "model":
            calls = _parts(content, "functionCall")
            if d.thought_signature and calls:
                name = str(get(get(calls[0], "functionCall"), "name"))
                sig = get(calls[0], "thoughtSignature")
                if not sig:
                    return MISSING_SIGNATURE.format(name=name, position=j + 1)
                if signed_name(sig) != name:
                    return CORRUPTED_SIGNATURE
            continue
        responses = [get(p, "functionResponse") for p in _parts(content, "functionResponse")]
        if not responses:
            continue
        previous = contents[j - 1] if j and contents[j - 1].get("role") == "model" else {}
        calls = [get(p, "functionCall") for p in _parts(previous, "functionCall")]
        if not calls:
            return NOT_AFTER_CALL
        if len(calls) != len(responses):
            return COUNT
        unused = list(calls)
        for response in responses:
            name, call_id = get(response, "name"), get(response, "id")
            match = next(
                (
                    c
                    for c in unused
                    if (get(c, "id") == call_id if call_id else get(c, "name") == name)
                ),
                None,
            )
            if match is None or get(match, "name") != name or (get(match, "id") and not call_id):
                return NO_MATCH.format(name=name, position=j + 1)
            unused.remove(match)
    return None


def result_text(response: Any) -> str:
    """A functionResponse's `response` as text: a lone string value itself, else its JSON."""
    if isinstance(response, dict) and len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    return orjson.dumps(response).decode()


def _image_entries(content: Any) -> list[str]:
    entries: list[str] = []
    for part in get(content, "parts") or []:
        inline, file = get(part, "inlineData"), get(part, "fileData")
        if isinstance(inline, dict):
            mime = str(get(inline, "mimeType"))
            raw = images.b64decode(str(inline.get("data", ""))) or b""
            if mime.startswith("image/"):
                entries.append(images.entry(mime, raw) or f"?x? {mime}")
        elif isinstance(file, dict):
            entries.append(images.url_entry(str(get(file, "fileUri"))))
    return entries


def read_turn(body: dict[str, Any], d: Directives) -> Turn:
    turn = Turn()
    for tool in body.get("tools") or []:
        for decl in get(tool, "functionDeclarations") or []:
            schema = get(decl, "parameters") or get(decl, "parametersJsonSchema") or {}
            turn.specs.append(ToolSpec(str(get(decl, "name")), schema))
    config = get(get(body, "toolConfig"), "functionCallingConfig")
    mode = str(get(config, "mode") or "AUTO").upper()
    if mode == "NONE":
        turn.mode = "none"
    elif mode == "ANY":
        turn.mode = "forced"
        allowed = get(config, "allowedFunctionNames")
        turn.allowed = [str(n) for n in allowed] if allowed else None
    contents = [c for c in body["contents"] if isinstance(c, dict)]
    last = contents[-1] if contents else {}
    if last.get("role") != "model" and _parts(last, "functionResponse"):
        turn.results = [
            result_text(get(get(p, "functionResponse"), "response"))
            for p in _parts(last, "functionResponse")
        ]
    generation = get(body, "generationConfig")
    if get(generation, "responseMimeType") == "application/json":
        schema = get(generation, "responseSchema") or get(generation, "responseJsonSchema")
        turn.json_text = json_answer(schema, d.text)
    if last.get("role", "user") == "user":
        turn.images = _image_entries(last)
    return turn
