"""A ChatRequest in Gemini's generateContent format: parts, functionCall / functionResponse
(the function's name looked up from the history), thought signatures carried back, schemas
Gemini accepts, toolConfig, JSON output (docs/translation.md)."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from core import errors
from core.chat import ChatRequest, Message, TextPart
from core.schemas import UnsupportedSchema, gemini_parameters, to_gemini
from core.tool_ids import split_id

THINKING_BUDGETS = {"low": 1024, "medium": 8192, "high": 24576}
MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE", "named": "ANY"}


def invalid(message: str, param: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(message, param=param)


def gemini_schema(convert: Any, schema: Any, param: str) -> Any:
    try:
        return convert(schema)
    except UnsupportedSchema as exc:
        raise invalid(f"gemini cannot take this schema: {exc}", param) from None


def function_response(message: Message, request: ChatRequest) -> dict[str, Any]:
    assert message.tool_call_id is not None
    provider_id, _ = split_id(message.tool_call_id)
    try:
        result = orjson.loads(message.content)
    except orjson.JSONDecodeError:
        result = None
    # Gemini wants an object: a JSON object result as it is, anything else wrapped.
    response = result if isinstance(result, dict) else {"result": message.content}
    body: dict[str, Any] = {"name": request.tool_name(message.tool_call_id), "response": response}
    if provider_id:
        body["id"] = provider_id
    return {"functionResponse": body}


def parts(message: Message, request: ChatRequest) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [function_response(message, request)]
    out: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                out.append({"text": part.text})
        else:
            assert part.data is not None, "URL images are fetched before (routes/images.py)"
            data = base64.b64encode(part.data).decode()
            out.append({"inlineData": {"mimeType": part.media_type, "data": data}})
    for call in message.tool_calls:
        provider_id, signature = split_id(call.id)
        fn: dict[str, Any] = {"name": call.name, "args": orjson.loads(call.arguments)}
        if provider_id:
            fn["id"] = provider_id
        part_json: dict[str, Any] = {"functionCall": fn}
        if signature:
            part_json["thoughtSignature"] = signature
        out.append(part_json)
    return out


def contents(messages: list[Message], request: ChatRequest) -> list[dict[str, Any]]:
    """Consecutive turns of one role (tool results are the user's) become one turn."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = "model" if message.role == "assistant" else "user"
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts(message, request))
        else:
            out.append({"role": role, "parts": parts(message, request)})
    return out


def tools_json(request: ChatRequest) -> dict[str, Any]:
    if not request.tools:
        return {}
    if request.parallel_tool_calls is False:
        raise invalid("gemini cannot be told to make one call at a time.", "parallel_tool_calls")
    declarations = []
    for tool in request.tools:
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        parameters = gemini_schema(gemini_parameters, tool.parameters, f"tools[{tool.name}]")
        if parameters is not None:
            declaration["parameters"] = parameters
        declarations.append(declaration)
    body: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    choice = request.tool_choice
    if choice is not None:
        config: dict[str, Any] = {"mode": MODES[choice.mode]}
        if choice.mode == "named":
            config["allowedFunctionNames"] = [choice.name]
        body["toolConfig"] = {"functionCallingConfig": config}
    return body


def generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
    optional = {
        "temperature": request.temperature,
        "topP": request.top_p,
        "seed": request.seed,
        "stopSequences": list(request.stop) or None,
    }
    config.update({k: v for k, v in optional.items() if v is not None})
    if request.reasoning_effort is not None:
        config["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGETS[request.reasoning_effort]}
    fmt = request.response_format
    if fmt is not None:
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema:
            config["responseSchema"] = gemini_schema(to_gemini, fmt.schema, "response_format")
    return config


def request_json(request: ChatRequest) -> dict[str, Any]:
    system, messages = request.split_system()
    body: dict[str, Any] = {
        "contents": contents(messages, request),
        "generationConfig": generation_config(request),
        **tools_json(request),
    }
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    return body
