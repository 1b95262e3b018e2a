"""An Anthropic Messages request (as the anthropic SDK and Claude Code send it) parsed into the
gateway's ChatRequest, for a call that another provider (OpenAI, Gemini) will answer."""

from __future__ import annotations

from typing import Any

import orjson

from core import errors
from core.chat import ChatRequest, ImagePart, Message, Part, TextPart, Tool, ToolCall, ToolChoice
from core.images import parse_data_uri, read_header
from proxy.routes.chat_fields import (
    MAX_IMAGE_BYTES,
    MAX_MESSAGES,
    MAX_TOOLS,
    TOOL_NAME,
    parse_top_p,
)

KNOWN_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "system", "tools", "tool_choice", "temperature",
        "top_p", "stop_sequences", "stream", "metadata", "thinking",
    }
)  # fmt: skip
# Hints with no effect on what another provider answers: accepted and dropped.
# Sent by Claude Code, with nothing to translate for another provider: its context editing and
# output settings only concern Anthropic's models.
IGNORED_FIELDS = frozenset({"metadata", "cache_control", "context_management", "output_config"})
# Anthropic features other providers have no equivalent for: refused, naming the field.
UNSUPPORTED_FIELDS = {
    "top_k": "top_k has no equivalent on this provider; leave it out.",
    "service_tier": "service_tier is an Anthropic capacity setting; leave it out.",
    "container": "container (code execution) is only available on Anthropic's models.",
    "mcp_servers": "mcp_servers (the MCP connector) is only available on Anthropic's models.",
}
MAX_STOP_SEQUENCES = 4  # OpenAI takes at most 4
# thinking.budget_tokens → reasoning_effort (upper bounds of low and medium)
EFFORT_BUDGETS = ((2048, "low"), (8192, "medium"))
DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
MAX_URL_LENGTH = 4096


def invalid(message: str, param: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(message, param=param)


def parse_messages_request(
    body: dict[str, Any],
    *,
    provider: str,
    model: str,
    max_tokens_limit: int,
    http_hosts: frozenset[str] = frozenset(),
) -> ChatRequest:
    """`http_hosts`: hosts whose image URLs may be plain http (IMAGE_FETCH_ALLOW_HOSTS)."""
    for name in body:
        if name in UNSUPPORTED_FIELDS:
            raise invalid(UNSUPPORTED_FIELDS[name], name)
        if name not in KNOWN_FIELDS and name not in IGNORED_FIELDS:
            raise invalid(f"Unknown field {name!r}.", name)
    if not isinstance(body.get("stream", False), bool):
        raise invalid("stream must be true or false.", "stream")
    tools = parse_tools(body.get("tools"))
    choice, parallel = parse_tool_choice(body.get("tool_choice"), tools)
    messages = (
        *parse_system(body.get("system")),
        *parse_messages(body.get("messages"), http_hosts),
    )
    return ChatRequest(
        provider=provider,
        model=model,
        messages=messages,
        max_tokens=parse_max_tokens(body.get("max_tokens"), max_tokens_limit),
        temperature=parse_temperature(body.get("temperature")),
        stop=parse_stop_sequences(body.get("stop_sequences")),
        top_p=parse_top_p(body.get("top_p")),
        reasoning_effort=parse_thinking(body.get("thinking")),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
    )


# --- scalar fields ------------------------------------------------------------------------------


def parse_max_tokens(value: object, limit: int) -> int:
    if value is None:
        raise invalid("max_tokens is required.", "max_tokens")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise invalid(f"max_tokens must be a whole number from 1 to {limit}.", "max_tokens")
    return value


def parse_temperature(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise invalid("temperature must be a number from 0 to 1.", "temperature")
    return float(value)


def parse_stop_sequences(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise invalid("stop_sequences must be a list of non-empty strings.", "stop_sequences")
    if len(value) > MAX_STOP_SEQUENCES:
        raise invalid(
            f"stop_sequences: this provider takes at most {MAX_STOP_SEQUENCES}; got {len(value)}.",
            "stop_sequences",
        )
    return tuple(value)


def parse_thinking(value: object) -> str | None:
    """Extended thinking as a reasoning effort: the budget's order of magnitude."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in ("disabled", "adaptive"):  # adaptive: the provider's own default
        return None
    budget = value.get("budget_tokens") if isinstance(value, dict) else None
    if kind != "enabled" or isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise invalid(
            'thinking must be {"type": "enabled", "budget_tokens": N} or {"type": "disabled"}.',
            "thinking",
        )
    return next((effort for bound, effort in EFFORT_BUDGETS if budget <= bound), "high")


# --- tools --------------------------------------------------------------------------------------


def parse_tools(value: object) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        raise invalid(f"tools must be a list of at most {MAX_TOOLS} tools.", "tools")
    tools: list[Tool] = []
    for i, raw in enumerate(value):
        at = f"tools[{i}]"
        if not isinstance(raw, dict):
            raise invalid(f"{at} must be an object.", at)
        kind = raw.get("type", "custom")
        if kind != "custom":
            raise invalid(
                f"{at}: {kind!r} is an Anthropic server tool; only custom tools"
                " (name, description, input_schema) work with this provider.",
                at,
            )
        name, description, schema = raw.get("name"), raw.get("description"), raw.get("input_schema")
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            raise invalid(f"{at}.name must be 1-64 letters, digits, _ or -.", f"{at}.name")
        if any(t.name == name for t in tools):
            raise invalid(f"{at}.name {name!r} is declared twice.", f"{at}.name")
        if description is not None and not isinstance(description, str):
            raise invalid(f"{at}.description must be a string.", f"{at}.description")
        if not isinstance(schema, dict):
            raise invalid(f"{at}.input_schema must be a JSON Schema object.", f"{at}.input_schema")
        tools.append(Tool(name, description, schema))
    return tuple(tools)


def parse_tool_choice(
    value: object, tools: tuple[Tool, ...]
) -> tuple[ToolChoice | None, bool | None]:
    """The choice, and parallel_tool_calls (False when `disable_parallel_tool_use`)."""
    if value is None:
        return None, None
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(value, dict) or kind not in ("auto", "any", "tool", "none"):
        raise invalid("tool_choice.type must be auto, any, tool or none.", "tool_choice")
    disable = value.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise invalid(
            "tool_choice.disable_parallel_tool_use must be true or false.",
            "tool_choice.disable_parallel_tool_use",
        )
    parallel = False if disable else None
    if not tools:
        if kind in ("auto", "none"):  # nothing to choose from: no effect
            return None, None
        raise invalid(f"tool_choice {kind!r} needs tools.", "tool_choice")
    if kind == "auto":
        return ToolChoice("auto"), parallel
    if kind == "none":
        return ToolChoice("none"), None
    if kind == "any":
        return ToolChoice("required"), parallel
    name = value.get("name")
    if not any(t.name == name for t in tools):
        raise invalid(f"tool_choice names {name!r}, which is not in tools.", "tool_choice.name")
    return ToolChoice("named", name), parallel


# --- system and messages ------------------------------------------------------------------------


def parse_system(value: object) -> tuple[Message, ...]:
    """One system message: a string, or text blocks joined (their cache_control dropped)."""
    if value is None:
        return ()
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list):
        texts = []
        for j, block in enumerate(value):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise invalid(f"system[{j}] must be a text block.", f"system[{j}]")
            if not isinstance(block.get("text"), str):
                raise invalid(f"system[{j}].text must be a string.", f"system[{j}].text")
            texts.append(block["text"])
    else:
        raise invalid("system must be a string or a list of text blocks.", "system")
    text = "\n\n".join(t for t in texts if t)
    return (Message("system", (TextPart(text),)),) if text else ()


def parse_messages(value: object, http_hosts: frozenset[str]) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        raise invalid("messages must be a non-empty list.", "messages")
    if len(value) > MAX_MESSAGES:
        raise invalid(f"messages may hold at most {MAX_MESSAGES} entries.", "messages")
    messages: list[Message] = []
    called: set[str] = set()
    for i, item in enumerate(value):
        where = f"messages[{i}]"
        if isinstance(item, dict) and item.get("role") == "system":
            # Claude Code sends its reminders as system messages to models that are not
            # Claude's: they join the system prompt.
            messages.extend(parse_system(item.get("content")))
            continue
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
            raise invalid(f"{where} must be an object with role user or assistant.", where)
        blocks = _blocks(item.get("content"), where)
        if item["role"] == "assistant":
            turn = _assistant(blocks)
            called.update(call.id for call in turn.tool_calls)
            if turn.parts or turn.tool_calls:  # a turn of thinking only leaves nothing
                messages.append(turn)
            continue
        turns = _user(blocks, where, http_hosts)
        for turn in turns:
            if turn.role == "tool" and turn.tool_call_id not in called:
                raise invalid(
                    f"{where}: a tool_result answers {turn.tool_call_id!r}, which no earlier"
                    " assistant tool_use has as its id.",
                    f"{where}.content",
                )
        messages.extend(turns)
    if not any(m.role in ("user", "tool") for m in messages):
        raise invalid("messages need at least one user message.", "messages")
    return tuple(messages)


def _blocks(content: object, where: str) -> list[tuple[str, dict[str, Any]]]:
    """(where, block) for every content block; a string is one text block."""
    if isinstance(content, str):
        return [(f"{where}.content", {"type": "text", "text": content})]
    if not isinstance(content, list):
        raise invalid(f"{where}.content must be a string or a list of blocks.", f"{where}.content")
    blocks = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise invalid(f"{at} must be a content block with a type.", at)
        blocks.append((at, block))
    return blocks


def _text(block: dict[str, Any], at: str) -> str:
    if not isinstance(block.get("text"), str):
        raise invalid(f"{at}.text must be a string.", f"{at}.text")
    return block["text"]


def _assistant(blocks: list[tuple[str, dict[str, Any]]]) -> Message:
    parts: list[Part] = []
    calls: list[ToolCall] = []
    for at, block in blocks:
        kind = block["type"]
        if kind == "text":
            if text := _text(block, at):
                parts.append(TextPart(text))
        elif kind == "tool_use":
            call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str):
                raise invalid(f"{at}: a tool_use block needs an id and a name.", at)
            if not isinstance(arguments, dict):
                raise invalid(f"{at}.input must be an object.", f"{at}.input")
            calls.append(ToolCall(call_id, name, orjson.dumps(arguments).decode()))
        elif kind not in DROPPED_BLOCKS:
            raise invalid(f"{at}: {kind!r} blocks are not accepted in assistant turns.", at)
    return Message("assistant", tuple(parts), tool_calls=tuple(calls))


def _user(
    blocks: list[tuple[str, dict[str, Any]]], where: str, http_hosts: frozenset[str]
) -> list[Message]:
    """Tool results first (one `tool` message each), then the user's text and images. Images
    inside a tool result move to that user message: other providers take no images in tool
    results."""
    results: list[Message] = []
    parts: list[Part] = []
    for at, block in blocks:
        kind = block["type"]
        if kind == "text":
            if text := _text(block, at):
                parts.append(TextPart(text))
        elif kind == "image":
            parts.append(_image(block, at, http_hosts))
        elif kind == "tool_result":
            result, images = _tool_result(block, at, http_hosts)
            results.append(result)
            parts.extend(images)
        elif kind not in DROPPED_BLOCKS:
            raise invalid(
                f"{at}: {kind!r} blocks are not accepted; use text, image or tool_result.", at
            )
    if not results and not parts:
        raise invalid(f"{where}.content must not be empty.", f"{where}.content")
    return [*results, *([Message("user", tuple(parts))] if parts else [])]


def _tool_result(
    block: dict[str, Any], at: str, http_hosts: frozenset[str]
) -> tuple[Message, list[ImagePart]]:
    call_id, content = block.get("tool_use_id"), block.get("content", "")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{at}: a tool_result needs its tool_use_id.", f"{at}.tool_use_id")
    texts: list[str] = []
    images: list[ImagePart] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, item in enumerate(content):
            where = f"{at}.content[{k}]"
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "text":
                texts.append(_text(item, where))
            elif kind == "image":
                images.append(_image(item, where, http_hosts))
            else:
                raise invalid(f"{where}: a tool_result holds text and image blocks only.", where)
    else:
        raise invalid(f"{at}.content must be a string or a list of blocks.", f"{at}.content")
    text = "\n\n".join(t for t in texts if t)
    if not text and images:
        text = "(the result is the image in the next user message)"
    if block.get("is_error") is True:
        text = "Error: " + text
    return Message("tool", (TextPart(text),), tool_call_id=call_id), images


def _image(block: dict[str, Any], at: str, http_hosts: frozenset[str]) -> ImagePart:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict):
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(media_type, str) or not isinstance(data, str):
            raise invalid(f"{at}.source needs a media_type and base64 data.", f"{at}.source")
        real_type, raw = parse_data_uri(
            f"data:{media_type};base64,{data}", max_bytes=MAX_IMAGE_BYTES, param=f"{at}.source"
        )
        info = read_header(raw)
        if info is None:  # parse_data_uri has checked it; kept for the type checker
            raise invalid(f"{at}: the image's bytes are not a PNG, JPEG, GIF or WebP.", at)
        return ImagePart(None, raw, real_type, None, info.width, info.height)
    if kind == "url" and isinstance(source, dict) and isinstance(source.get("url"), str):
        url: str = source["url"]
        scheme, _, rest = url.partition("://")
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1].rsplit(":", 1)[0].lower()
        allowed = scheme == "https" or (scheme == "http" and host in http_hosts)
        if allowed and host and len(url) <= MAX_URL_LENGTH and url.isprintable():
            return ImagePart(url=url)
        raise invalid(f"{at}.source.url must be an https: URL.", f"{at}.source.url")
    raise invalid(
        f"{at}.source must be a base64 or url image source (files are not available here).",
        f"{at}.source",
    )
