"""The chat fields both client routes share (docs/api.md §6): messages with text, image parts,
tool calls and tool results; tools and tool_choice; response_format; top_p, seed,
reasoning_effort. `dialect` says how a route spells tools: "openai" (`{"type": "function",
"function": {...}}`) or "native" (flat `{"name", "description", "parameters"}`)."""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson

from core import errors
from core.chat import ImagePart, Message, Part, ResponseFormat, TextPart, Tool, ToolCall, ToolChoice
from core.images import parse_data_uri, read_header

Dialect = Literal["openai", "native"]

ROLES = ("system", "user", "assistant", "tool")
ROLE_ALIASES = {"developer": "system"}  # newer OpenAI clients send developer for system
MAX_MESSAGES = 2048
MAX_TOOLS = 128
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
DETAILS = ("low", "high", "auto")
EFFORTS = ("low", "medium", "high")
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # the providers' own per-image limit is at most this


def invalid(message: str, param: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(message, param=param)


def parse_messages(
    value: object, dialect: Dialect, http_hosts: frozenset[str] = frozenset()
) -> tuple[Message, ...]:
    """`http_hosts`: hosts whose image URLs may be plain http (IMAGE_FETCH_ALLOW_HOSTS)."""
    if not isinstance(value, list) or not value:
        raise invalid("messages must be a non-empty list.", "messages")
    if len(value) > MAX_MESSAGES:
        raise invalid(f"messages may hold at most {MAX_MESSAGES} entries.", "messages")
    messages: list[Message] = []
    called: set[str] = set()
    for i, item in enumerate(value):
        message = _message(item, i, dialect, http_hosts)
        if message.role == "tool" and message.tool_call_id not in called:
            raise invalid(
                f"messages[{i}] is a tool result without its call: no earlier assistant"
                f" message has a tool call with id {message.tool_call_id!r}.",
                f"messages[{i}].tool_call_id",
            )
        if message.tool_calls:
            called.update(call.id for call in message.tool_calls)
        messages.append(message)
    if all(m.role == "system" for m in messages):
        raise invalid("messages need at least one user or assistant message.", "messages")
    return tuple(messages)


def _message(item: object, i: int, dialect: Dialect, http_hosts: frozenset[str]) -> Message:
    where = f"messages[{i}]"
    if not isinstance(item, dict):
        raise invalid(f"{where} must be an object.", where)
    role = item.get("role")
    role = ROLE_ALIASES.get(role, role) if isinstance(role, str) else role
    if role not in ROLES:
        raise invalid(
            f"{where}.role must be one of system, user, assistant, tool; got {role!r}.",
            f"{where}.role",
        )
    content = item.get("content")
    if role == "assistant":
        calls = _tool_calls(item.get("tool_calls"), where, dialect)
        parts = _parts(content, where, images=None, optional=bool(calls))
        return Message(role, parts, tool_calls=calls)
    if "tool_calls" in item:
        raise invalid(f"{where}: only assistant messages carry tool_calls.", f"{where}.tool_calls")
    if role == "tool":
        call_id = item.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise invalid(
                f"{where}: a tool message needs its tool_call_id.", f"{where}.tool_call_id"
            )
        return Message(role, _parts(content, where, images=None), tool_call_id=call_id)
    images = http_hosts if role == "user" else None
    return Message(role, _parts(content, where, images=images))


def _parts(
    content: object, where: str, *, images: frozenset[str] | None, optional: bool = False
) -> tuple[Part, ...]:
    """A string, or a list of text (and, for users — `images` not None — image_url) parts; at
    least some text or an image unless `optional` (an assistant turn that only calls tools)."""
    if content is None and optional:
        return ()
    if isinstance(content, str):
        if not content and not optional:
            raise invalid(f"{where}.content must be a non-empty string.", f"{where}.content")
        return (TextPart(content),) if content else ()
    if not isinstance(content, list):
        raise invalid(f"{where}.content must be a string or a list of parts.", f"{where}.content")
    parts: list[Part] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(TextPart(part["text"]))
        elif kind == "image_url" and images is not None:
            parts.append(_image(part.get("image_url"), at, images))
        elif kind == "image_url":
            raise invalid(f"{at}: images are accepted in user messages only.", at)
        else:
            raise invalid(f"{at} must be a text part or an image_url part.", at)
    if not parts and not optional:
        raise invalid(f"{where}.content must not be empty.", f"{where}.content")
    return tuple(parts)


def _image(value: object, at: str, http_hosts: frozenset[str]) -> ImagePart:
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        raise invalid(f"{at}.image_url must be an object with a url.", f"{at}.image_url")
    url, detail = value["url"], value.get("detail")
    if detail is not None and detail not in DETAILS:
        raise invalid(f"{at}.image_url.detail must be low, high or auto.", f"{at}.image_url.detail")
    if url.startswith("data:"):
        _, data = parse_data_uri(url, max_bytes=MAX_IMAGE_BYTES, param=f"{at}.image_url")
        info = read_header(data)
        if info is None:
            raise invalid(f"{at}: the image's bytes are not a PNG, JPEG, GIF or WebP.", at)
        return ImagePart(None, data, info.media_type, detail, info.width, info.height)
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].rsplit(":", 1)[0].lower()
    allowed = scheme == "https" or (scheme == "http" and host in http_hosts)
    if allowed and host and len(url) <= 4096 and url.isprintable():
        return ImagePart(url=url, detail=detail)
    raise invalid(f"{at}.image_url.url must be an https: URL or a data: URI.", f"{at}.image_url")


def _tool_calls(value: object, where: str, dialect: Dialect) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid(f"{where}.tool_calls must be a list.", f"{where}.tool_calls")
    calls = []
    for j, raw in enumerate(value):
        at = f"{where}.tool_calls[{j}]"
        fn = raw.get("function") if dialect == "openai" and isinstance(raw, dict) else raw
        call_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(fn, dict) or not isinstance(call_id, str) or not call_id:
            raise invalid(f"{at} needs an id and a function name with arguments.", at)
        name, arguments = fn.get("name"), fn.get("arguments", "")
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            raise invalid(f"{at}: the function name is missing or not a valid name.", at)
        calls.append(ToolCall(call_id, name, _arguments(arguments, at)))
    return tuple(calls)


def _arguments(value: object, at: str) -> str:
    """JSON text of an object ("" counts as no arguments): every provider needs an object."""
    if not isinstance(value, str):
        raise invalid(f"{at}: arguments must be a JSON string.", at)
    if not value.strip():
        return "{}"
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise invalid(f"{at}: arguments must be the JSON text of an object.", at)
    return value


def parse_tools(value: object, dialect: Dialect) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        raise invalid(f"tools must be a list of at most {MAX_TOOLS} tools.", "tools")
    tools: list[Tool] = []
    for i, raw in enumerate(value):
        at = f"tools[{i}]"
        if dialect == "openai":
            if not isinstance(raw, dict) or raw.get("type") != "function":
                raise invalid(f'{at} must be {{"type": "function", "function": {{...}}}}.', at)
            raw = raw.get("function")
        if not isinstance(raw, dict):
            raise invalid(f"{at} must be an object with a name.", at)
        name, description, parameters = (
            raw.get("name"),
            raw.get("description"),
            raw.get("parameters"),
        )
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            raise invalid(f"{at}.name must be 1-64 letters, digits, _ or -.", f"{at}.name")
        if any(t.name == name for t in tools):
            raise invalid(f"{at}.name {name!r} is declared twice.", f"{at}.name")
        if description is not None and not isinstance(description, str):
            raise invalid(f"{at}.description must be a string.", f"{at}.description")
        if parameters is not None and not isinstance(parameters, dict):
            raise invalid(f"{at}.parameters must be a JSON Schema object.", f"{at}.parameters")
        tools.append(Tool(name, description, parameters))
    return tuple(tools)


def parse_tool_choice(value: object, tools: tuple[Tool, ...]) -> ToolChoice | None:
    if value is None:
        return None
    if not tools:
        raise invalid("tool_choice needs tools.", "tool_choice")
    if value in ("auto", "none", "required"):
        return ToolChoice(value)  # type: ignore[arg-type]
    name = None
    if isinstance(value, dict):
        fn = value.get("function") if value.get("type") == "function" else value
        name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(name, str):
        raise invalid(
            "tool_choice must be auto, none, required or a named function.", "tool_choice"
        )
    if not any(t.name == name for t in tools):
        raise invalid(f"tool_choice names {name!r}, which is not in tools.", "tool_choice")
    return ToolChoice("named", name)


def parse_response_format(value: object) -> ResponseFormat | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema" or not isinstance(value, dict):
        raise invalid("response_format type must be text, json_object or json_schema.",
                      "response_format")  # fmt: skip
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise invalid("response_format.json_schema needs a name.", "response_format.json_schema")
    schema, strict = spec.get("schema"), spec.get("strict")
    if schema is not None and not isinstance(schema, dict):
        raise invalid("response_format.json_schema.schema must be an object.",
                      "response_format.json_schema.schema")  # fmt: skip
    if strict is not None and not isinstance(strict, bool):
        raise invalid("response_format.json_schema.strict must be true or false.",
                      "response_format.json_schema.strict")  # fmt: skip
    return ResponseFormat("json_schema", spec["name"], schema, strict)


def parse_stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > 4
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise invalid("stop must be a string or a list of up to 4 strings.", "stop")
    return tuple(stops)


def parse_top_p(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise invalid("top_p must be a number from 0 to 1.", "top_p")
    return float(value)


def parse_seed(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise invalid("seed must be a whole number.", "seed")
    return value


def parse_reasoning_effort(value: object) -> str | None:
    if value is None:
        return None
    if value not in EFFORTS:
        raise invalid("reasoning_effort must be low, medium or high.", "reasoning_effort")
    return value  # type: ignore[return-value]


def parse_parallel_tool_calls(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise invalid("parallel_tool_calls must be true or false.", "parallel_tool_calls")


EXTRA_FIELDS = frozenset(
    {"tools", "tool_choice", "parallel_tool_calls", "response_format", "top_p", "seed",
     "reasoning_effort"}
)  # fmt: skip


def extras(body: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """The ChatRequest fields of §6 from a request body."""
    if body.keys().isdisjoint(EXTRA_FIELDS):  # plain text chat: the hot path
        return {}
    tools = parse_tools(body.get("tools"), dialect)
    return {
        "tools": tools,
        "tool_choice": parse_tool_choice(body.get("tool_choice"), tools),
        "parallel_tool_calls": parse_parallel_tool_calls(body.get("parallel_tool_calls")),
        "response_format": parse_response_format(body.get("response_format")),
        "top_p": parse_top_p(body.get("top_p")),
        "seed": parse_seed(body.get("seed")),
        "reasoning_effort": parse_reasoning_effort(body.get("reasoning_effort")),
    }
