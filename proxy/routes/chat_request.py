"""Strict parsing of the native chat request (docs/api.md) into a ChatRequest, and of the client's
headers into who is calling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from core import errors
from core.chat import ChatRequest
from core.settings import Settings
from core.upstreams import BUILTIN_PROVIDERS, DEMO_PROVIDER
from proxy.providers.base import Provider
from proxy.routes import chat_fields

NATIVE_FIELDS = frozenset(
    {
        "provider", "model", "messages", "max_tokens", "temperature", "stream", "stop", "top_p",
        "seed", "reasoning_effort", "tools", "tool_choice", "parallel_tool_calls",
        "response_format",
    }
)  # fmt: skip
MAX_MODEL_LENGTH = 128
# Anthropic refuses temperatures above 1; say so instead of letting the upstream 400 become a 502.
TEMPERATURE_LIMITS = {"anthropic": 1.0}  # by wire format
BUILTIN = (*BUILTIN_PROVIDERS, DEMO_PROVIDER)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise errors.InvalidRequest("The request body must be a JSON object.")
    return body


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


def parse_temperature(value: object, provider: str, api: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.InvalidRequest("temperature must be a number.")
    limit = TEMPERATURE_LIMITS.get(api, 2.0)
    if not 0 <= value <= limit:
        raise errors.InvalidRequest(f"temperature for {provider} must be between 0 and {limit:g}.")
    return float(value)


def parse_model(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidRequest("model must be a non-empty string.")
    if len(value) > MAX_MODEL_LENGTH or not value.isprintable():
        raise errors.InvalidRequest("model is not a valid model name.")
    return value


def check_provider(value: object, enabled: Mapping[str, object]) -> str:
    if not isinstance(value, str):
        raise errors.InvalidRequest("provider must be one of: " + ", ".join(sorted(enabled)) + ".")
    if value not in enabled:
        raise errors.InvalidRequest(
            f"Unknown provider {value!r}; this gateway serves: " + ", ".join(sorted(enabled)) + "."
        )
    return value


def named_provider(name: str, enabled: Mapping[str, object]) -> tuple[str, str] | None:
    """`groq/llama-3.3-70b-versatile` names its provider when the prefix is one this gateway
    serves (a built-in one it does not serve is a clear 400); None when it names none."""
    prefix, slash, rest = name.partition("/")
    if not slash:
        return None
    if prefix in enabled:
        return prefix, parse_model(rest)
    if prefix in BUILTIN:
        check_provider(prefix, enabled)
    return None


def parse_native_request(
    raw: bytes, settings: Settings, enabled: Mapping[str, Provider]
) -> ChatRequest:
    body = parse_json_object(raw)
    unknown = sorted(set(body) - NATIVE_FIELDS)
    if unknown:
        raise errors.InvalidRequest("Unknown field(s): " + ", ".join(unknown) + ".")
    provider = check_provider(body.get("provider"), enabled)
    return ChatRequest(
        provider=provider,
        model=parse_model(body.get("model")),
        messages=chat_fields.parse_messages(
            body.get("messages"), "native", settings.image_fetch_allow_hosts
        ),
        max_tokens=parse_max_tokens(body.get("max_tokens"), settings),
        temperature=parse_temperature(body.get("temperature"), provider, enabled[provider].api),
        stop=chat_fields.parse_stop(body.get("stop")),
        **chat_fields.extras(body, "native"),
    )


def parse_install_id(value: str | None) -> str | None:
    """X-Kaixu-Install-Id: 1–128 printable characters, or absent."""
    if value is None:
        return None
    if not 1 <= len(value) <= 128 or not value.isprintable():
        raise errors.InvalidRequest("X-Kaixu-Install-Id must be 1 to 128 printable characters.")
    return value
