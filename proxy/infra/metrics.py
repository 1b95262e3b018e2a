"""Prometheus metrics, held per application in their own registry (no global state)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kaixu_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "kaixu_http_request_duration_seconds",
            "Time to answer an HTTP request (until the handler returns; streams: until the end).",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        self.upstream_attempts = Counter(
            "kaixu_upstream_attempts",
            "Calls sent to an upstream, by provider, upstream id and outcome (ok or the kind"
            " of failure: connect, timeout, rate_limited, server_error, key_refused,"
            " client_error, mid_stream, bad_answer).",
            ("provider", "upstream", "outcome"),
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "kaixu_upstream_first_event_seconds",
            "Time from sending a call to an upstream to its first event (or its failure).",
            ("provider", "upstream"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        admissions = Counter(
            "kaixu_admissions",
            "Requests admitted, by where: `database` (an admission round trip) or `spare` (a"
            " spare reservation this process held for the key and device).",
            ("source",),
            registry=self.registry,
        )
        self.admitted_by_database = admissions.labels("database")
        self.admitted_by_spare = admissions.labels("spare")

        # labels() validates and locks on every call: each set of children is looked up once.
        self._http: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._upstream: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def upstream_attempt(self, provider: str, upstream: str, outcome: str, seconds: float) -> None:
        key = (provider, upstream, outcome)
        children = self._upstream.get(key)
        if children is None:
            children = self._upstream[key] = (
                self.upstream_attempts.labels(provider, upstream, outcome),
                self.upstream_latency.labels(provider, upstream),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._http.get(key)
        if children is None:
            children = self._http[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
