"""The registry of provider adapters enabled by settings, one pooled HTTP session each."""

from __future__ import annotations

from core.settings import Settings
from proxy.providers.anthropic import AnthropicProvider
from proxy.providers.base import Provider
from proxy.providers.demo import DemoProvider
from proxy.providers.gemini import GeminiProvider
from proxy.providers.openai import OpenAIProvider

KNOWN_PROVIDERS = ("openai", "anthropic", "gemini", "demo")


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One adapter (and one pooled HTTP session) per provider that has a key."""
    timeouts = {
        "connect_timeout_s": settings.upstream_connect_timeout_s,
        "read_timeout_s": settings.upstream_read_timeout_s,
    }
    providers: dict[str, Provider] = {}
    if settings.openai_api_key:
        providers["openai"] = OpenAIProvider(
            "openai", settings.openai_base_url, settings.openai_api_key, **timeouts
        )
    if settings.anthropic_api_key:
        providers["anthropic"] = AnthropicProvider(
            "anthropic", settings.anthropic_base_url, settings.anthropic_api_key, **timeouts
        )
    if settings.gemini_api_key:
        providers["gemini"] = GeminiProvider(
            "gemini", settings.gemini_base_url, settings.gemini_api_key, **timeouts
        )
    if settings.demo_enabled:
        providers["demo"] = DemoProvider()
    return providers
