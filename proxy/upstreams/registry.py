"""Every upstream this process can call, grouped into one Provider per provider name.

The environment's keys are one read-only upstream each (`env-openai`, …); the operator's come
from the `upstreams` table, their keys opened with the SecretBox. A change in the admin NOTIFYs
`upstreams`, and every process reloads (proxy/infra/invalidation.py). An upstream whose
connection (wire format, URL, key, headers) did not change keeps its health across reloads.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import orjson

from core.settings import Settings
from core.upstreams import DEMO_PROVIDER, UpstreamSpec, env_upstream_id
from db import upstreams as db_upstreams
from proxy.infra.metrics import Metrics
from proxy.infra.secretbox import SecretBox, SecretBoxError
from proxy.providers.anthropic import AnthropicProvider
from proxy.providers.base import HttpProvider, Provider, upstream_session
from proxy.providers.demo import DemoProvider
from proxy.providers.gemini import GeminiProvider
from proxy.providers.openai import OpenAIProvider
from proxy.upstreams.health import Health
from proxy.upstreams.pool import ProviderPool, Upstream

log = logging.getLogger("kaixu.upstreams")

TRANSPORTS: dict[str, type[HttpProvider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
}


def env_specs(settings: Settings) -> list[UpstreamSpec]:
    """The upstreams the environment defines: one per provider key that is set."""
    found = (
        ("openai", settings.openai_api_key, settings.openai_base_url),
        ("anthropic", settings.anthropic_api_key, settings.anthropic_base_url),
        ("gemini", settings.gemini_api_key, settings.gemini_base_url),
    )
    return [
        UpstreamSpec(env_upstream_id(name), name, name, url, key) for name, key, url in found if key
    ]


def key_context(uid: str) -> bytes:
    """What a sealed key is bound to: its row and its column (it opens nowhere else)."""
    return f"{uid}:key".encode()


def headers_context(uid: str) -> bytes:
    return f"{uid}:headers".encode()


def seal_key(box: SecretBox, uid: str, key: str) -> bytes:
    return box.seal(key.encode(), key_context(uid))


def seal_headers(box: SecretBox, uid: str, headers: dict[str, str]) -> bytes | None:
    return box.seal(orjson.dumps(headers), headers_context(uid)) if headers else None


def open_spec(row: asyncpg.Record, box: SecretBox) -> UpstreamSpec:
    """A stored upstream with its key (and headers) opened; SecretBoxError if they cannot be."""
    uid = row["id"]
    key = box.open(row["key_enc"], key_context(uid)).decode()
    headers: dict[str, str] = {}
    if row["headers_enc"] is not None:
        headers = orjson.loads(box.open(row["headers_enc"], headers_context(uid)))
    return UpstreamSpec(
        id=uid,
        provider=row["provider"],
        api=row["api"],
        base_url=row["base_url"],
        api_key=key,
        models=tuple(row["models"]) if row["models"] is not None else None,
        priority=row["priority"],
        weight=row["weight"],
        enabled=row["enabled"],
        headers=tuple(headers.items()),
        label=row["label"],
    )


class Upstreams:
    """The live upstreams; `providers` is the dict every route reads (changed in place)."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.box = SecretBox(settings.secret, settings.secret_previous) if settings.secret else None
        self.session = upstream_session(
            settings.upstream_connect_timeout_s, settings.upstream_read_timeout_s
        )
        self.env = env_specs(settings)
        self.providers: dict[str, Provider] = {}
        self.live: dict[str, Upstream] = {}
        self.unreadable: dict[str, str] = {}  # stored upstreams whose key cannot be opened
        self._lock = asyncio.Lock()
        self.apply(self.env)

    async def load(self, pool: asyncpg.Pool) -> None:
        """Read the stored upstreams and route by them (with the environment's)."""
        async with self._lock:
            rows = await db_upstreams.list_upstreams(pool)
            specs, unreadable = list(self.env), {}
            for row in rows:
                try:
                    if self.box is None:
                        raise SecretBoxError("no KAIXU_SECRET to open it with")
                    specs.append(open_spec(row, self.box))
                except SecretBoxError as exc:
                    unreadable[row["id"]] = str(exc)
                    log.error("upstream key cannot be opened; upstream skipped",
                              extra={"upstream": row["id"], "reason": str(exc)})  # fmt: skip
            self.unreadable = unreadable
            self.apply(specs)

    def apply(self, specs: list[UpstreamSpec]) -> None:
        live: dict[str, Upstream] = {}
        for spec in specs:
            old = self.live.get(spec.id)
            if old is not None and old.spec.connection == spec.connection:
                live[spec.id] = Upstream(spec, old.transport, old.health)
            else:  # new, or reached differently (a fixed key): its past says nothing now
                live[spec.id] = Upstream(spec, self._transport(spec), Health())
        grouped: dict[str, list[Upstream]] = {}
        for upstream in live.values():
            grouped.setdefault(upstream.spec.provider, []).append(upstream)
        providers: dict[str, Provider] = {
            name: ProviderPool(
                name,
                members[0].spec.api,
                members,
                max_attempts=self.settings.upstream_max_attempts,
                observe=self._observe,
            )
            for name, members in grouped.items()
        }
        if self.settings.demo_enabled:
            providers[DEMO_PROVIDER] = DemoProvider()
        self.live = live
        self.providers.clear()  # in place: the app holds this dict
        self.providers.update(providers)

    def _transport(self, spec: UpstreamSpec) -> HttpProvider:
        return TRANSPORTS[spec.api](
            spec.provider,
            spec.base_url.rstrip("/"),
            spec.api_key,
            self.settings.upstream_connect_timeout_s,
            self.settings.upstream_read_timeout_s,
            extra_headers=spec.headers,
            session=self.session,
        )

    def _observe(self, upstream: Upstream, outcome: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.upstream_attempt(upstream.spec.provider, upstream.id, outcome, seconds)

    def health_snapshot(self) -> dict[str, Any]:
        return {uid: upstream.health.snapshot() for uid, upstream in self.live.items()}

    async def close(self) -> None:
        await self.session.close()
