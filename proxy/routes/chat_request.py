"""Strict parsing of the native chat request (docs/api.md) into a ChatRequest, and of the client's
headers into who is calling."""

from __future__ import annotations

from typing import Any

import orjson

from core import errors
from core.chat import ChatRequest, Message
from core.settings import Settings

ROLES = ("system", "user", "assistant")
NATIVE_FIELDS = frozenset({"provider", "model", "messages", "max_tokens", "temperature", "stream"})
MAX_MESSAGES = 2048
MAX_MODEL_LENGTH = 128
# Anthropic refuses temperatures above 1; say so instead of letting the upstream 400 become a 502.
TEMPERATURE_LIMITS = {"anthropic": 1.0}


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise errors.InvalidRequest("The request body must be a JSON object.")
    return body


def parse_messages(value: object) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        raise errors.InvalidRequest("messages must be a non-empty list.")
    if len(value) > MAX_MESSAGES:
        raise errors.InvalidRequest(f"messages may hold at most {MAX_MESSAGES} entries.")
    messages = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise errors.InvalidRequest(f"messages[{i}] must be an object.")
        role = item.get("role")
        if role not in ROLES:
            raise errors.InvalidRequest(
                f"messages[{i}].role must be one of system, user, assistant; got {role!r}."
            )
        content = message_text(item.get("content"), i)
        messages.append(Message(role, content))
    if all(m.role == "system" for m in messages):
        raise errors.InvalidRequest("messages need at least one user or assistant message.")
    return tuple(messages)


def message_text(content: object, index: int) -> str:
    """A message's text: a string, or (as OpenAI clients send) a list of text parts."""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise errors.InvalidRequest(
                    f"messages[{index}].content: only text parts are supported."
                )
            texts.append(part.get("text"))
        if not all(isinstance(t, str) for t in texts):
            raise errors.InvalidRequest(f"messages[{index}].content parts need a text string.")
        content = "".join(texts)
    if not isinstance(content, str) or not content:
        raise errors.InvalidRequest(f"messages[{index}].content must be a non-empty string.")
    return content


def parse_max_tokens(value: object, settings: Settings, field: str = "max_tokens") -> int:
    if value is None:
        return settings.default_max_tokens
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidRequest(f"{field} must be a whole number.")
    if not 1 <= value <= settings.max_tokens_limit:
        raise errors.InvalidRequest(
            f"{field} must be between 1 and {settings.max_tokens_limit}; got {value}."
        )
    return value


def parse_temperature(value: object, provider: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.InvalidRequest("temperature must be a number.")
    limit = TEMPERATURE_LIMITS.get(provider, 2.0)
    if not 0 <= value <= limit:
        raise errors.InvalidRequest(f"temperature for {provider} must be between 0 and {limit:g}.")
    return float(value)


def parse_model(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidRequest("model must be a non-empty string.")
    if len(value) > MAX_MODEL_LENGTH or not value.isprintable():
        raise errors.InvalidRequest("model is not a valid model name.")
    return value


def check_provider(value: object, enabled: dict[str, object]) -> str:
    if not isinstance(value, str):
        raise errors.InvalidRequest("provider must be one of: " + ", ".join(sorted(enabled)) + ".")
    if value not in enabled:
        raise errors.InvalidRequest(
            f"Unknown provider {value!r}; this gateway serves: " + ", ".join(sorted(enabled)) + "."
        )
    return value


def parse_native_request(raw: bytes, settings: Settings, enabled: dict[str, object]) -> ChatRequest:
    body = parse_json_object(raw)
    unknown = sorted(set(body) - NATIVE_FIELDS)
    if unknown:
        raise errors.InvalidRequest("Unknown field(s): " + ", ".join(unknown) + ".")
    provider = check_provider(body.get("provider"), enabled)
    return ChatRequest(
        provider=provider,
        model=parse_model(body.get("model")),
        messages=parse_messages(body.get("messages")),
        max_tokens=parse_max_tokens(body.get("max_tokens"), settings),
        temperature=parse_temperature(body.get("temperature"), provider),
    )


def parse_install_id(value: str | None) -> str | None:
    """X-Kaixu-Install-Id: 1–128 printable characters, or absent."""
    if value is None:
        return None
    if not 1 <= len(value) <= 128 or not value.isprintable():
        raise errors.InvalidRequest("X-Kaixu-Install-Id must be 1 to 128 printable characters.")
    return value
