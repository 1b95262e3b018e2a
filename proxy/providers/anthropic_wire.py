"""A ChatRequest in Anthropic's Messages format: content blocks, tool_use / tool_result, a
forced tool for structured output, thinking budgets (docs/translation.md)."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from core import errors
from core.chat import ChatRequest, ImagePart, Message, TextPart
from core.schemas import to_anthropic_input_schema

# Structured output is a forced tool: its input is the answer (docs/translation.md).
JSON_TOOL = "json_answer"
THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}


def invalid(message: str, param: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(message, param=param)


def image_block(image: ImagePart) -> dict[str, Any]:
    if image.data is not None:
        source = {
            "type": "base64",
            "media_type": image.media_type,
            "data": base64.b64encode(image.data).decode(),
        }
    else:
        source = {"type": "url", "url": image.url}
    return {"type": "image", "source": source}


def blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id,
                 "content": message.content}]  # fmt: skip
    out: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                out.append({"type": "text", "text": part.text})
        else:
            out.append(image_block(part))
    for call in message.tool_calls:
        out.append({"type": "tool_use", "id": call.id, "name": call.name,
                    "input": orjson.loads(call.arguments)})  # fmt: skip
    return out


def messages_json(messages: list[Message]) -> list[dict[str, Any]]:
    """Turns alternate on Anthropic: consecutive messages of one role (tool results are the
    user's) are merged into one turn, its tool_result blocks first."""
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for message in messages:
        role = "user" if message.role == "tool" else message.role
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks(message))
        else:
            turns.append((role, blocks(message)))
    out = []
    for role, content in turns:
        content.sort(key=lambda block: block["type"] != "tool_result")  # stable
        if len(content) == 1 and content[0]["type"] == "text":
            out.append({"role": role, "content": content[0]["text"]})
        else:
            out.append({"role": role, "content": content})
    return out


def tools_json(request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {}
    fmt = request.response_format
    if fmt is not None:
        if request.tools or request.tool_choice:
            raise invalid("For anthropic, response_format cannot be combined with tools.",
                          "response_format")  # fmt: skip
        schema = fmt.schema if fmt.type == "json_schema" and fmt.schema else {"type": "object"}
        body["tools"] = [{"name": JSON_TOOL, "description": "Answer with this JSON.",
                          "input_schema": to_anthropic_input_schema(schema)}]  # fmt: skip
        body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
        return body
    if request.tools:
        body["tools"] = [
            {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "input_schema": to_anthropic_input_schema(t.parameters),
            }
            for t in request.tools
        ]
    choice = request.tool_choice
    mode = choice.mode if choice else ("auto" if request.tools else None)
    if mode is not None:
        tool_choice: dict[str, Any] = {
            "auto": {"type": "auto"},
            "required": {"type": "any"},
            "none": {"type": "none"},
            "named": {"type": "tool", "name": choice.name if choice else None},
        }[mode]
        if request.parallel_tool_calls is False and mode != "none":
            tool_choice["disable_parallel_tool_use"] = True
        body["tool_choice"] = tool_choice
    return body


def thinking_json(request: ChatRequest, body: dict[str, Any]) -> dict[str, Any] | None:
    effort = request.reasoning_effort
    if effort is None:
        return None
    budget = THINKING_BUDGETS[effort]
    if request.max_tokens <= budget:
        raise invalid(f"For anthropic, reasoning_effort {effort!r} thinks for {budget} tokens:"
                      f" max_tokens must be above that.", "reasoning_effort")  # fmt: skip
    if request.temperature is not None or request.top_p is not None:
        raise invalid("For anthropic, reasoning_effort cannot be combined with temperature"
                      " or top_p.", "reasoning_effort")  # fmt: skip
    forced = (body.get("tool_choice") or {}).get("type") in ("any", "tool")
    if forced:
        raise invalid("For anthropic, reasoning_effort cannot be combined with a forced tool"
                      " or response_format.", "reasoning_effort")  # fmt: skip
    return {"type": "enabled", "budget_tokens": budget}


def request_json(request: ChatRequest, stream: bool) -> dict[str, Any]:
    if request.seed is not None:
        raise invalid("anthropic has no seed.", "seed")
    system, messages = request.split_system()
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": messages_json(messages),
        **tools_json(request),
    }
    if system:
        body["system"] = system  # a top-level field, not a message role
    optional = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop_sequences": list(request.stop) or None,
        "thinking": thinking_json(request, body),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if stream:
        body["stream"] = True
    return body
