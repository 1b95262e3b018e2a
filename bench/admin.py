"""Setup through the admin API (X-Admin-Password) and SQL: customers, keys, bulk usage rows."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from typing import Any

import psycopg

# A cap no benchmark can reach ($100,000 a month) and no rpm limit: nothing is refused.
HUGE_CAP_CENTS = 10_000_000

INSERT_USAGE = """
INSERT INTO usage_events (created_at, month, customer_id, key_id, provider, model,
                          upstream_model, input_tokens, output_tokens, cost_uc, status,
                          cost_source, latency_ms, request_id)
SELECT now() - make_interval(secs => g / 10.0),
       date_trunc('month', now() AT TIME ZONE 'UTC')::date,
       %(customer_id)s, %(key_id)s, 'openai', 'gpt-4o-mini', 'gpt-4o-mini-2024-07-18',
       10 + g %% 90, 4 + g %% 60, 2400 + g %% 1000, 'ok', 'reported', 1 + g %% 40,
       'bench-' || g
FROM generate_series(1, %(rows)s) AS g
"""


class SetupError(RuntimeError):
    """The admin API refused or failed a setup call."""


@dataclasses.dataclass(frozen=True, slots=True)
class Customer:
    id: str
    key_id: str
    key: str

    @property
    def authorization(self) -> str:
        return f"Bearer {self.key}"


def admin_call(base_url: str, password: str, method: str, path: str, body: Any = None) -> Any:
    """One admin API call; the decoded JSON answer, or SetupError naming the status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base_url + "/admin/api" + path,
        data=data,
        method=method,
        headers={"X-Admin-Password": password, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise SetupError(f"{method} {path} answered {exc.code}: {detail}") from exc
    except OSError as exc:
        raise SetupError(f"{method} {path} failed: {exc}") from exc


def create_customer(base_url: str, password: str, customer_id: str) -> Customer:
    """A customer with a huge monthly cap and no rpm limit, and its master key."""
    answer = admin_call(
        base_url,
        password,
        "POST",
        "/customers",
        {"id": customer_id, "name": "Benchmark", "monthly_cap_cents": HUGE_CAP_CENTS},
    )
    key = answer["key"]
    return Customer(customer_id, key["id"], key["key"])


def insert_usage_rows(dsn: str, customer: Customer, rows: int) -> None:
    """`rows` usage rows for `customer` in one INSERT ... SELECT FROM generate_series."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        params = {"customer_id": customer.id, "key_id": customer.key_id, "rows": rows}
        conn.execute(INSERT_USAGE, params)


def server_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def add_upstream(base_url: str, password: str, openai_url: str, label: str) -> None:
    """One more OpenAI upstream of the same priority and weight as the environment's."""
    body = {"provider": "openai", "base_url": openai_url, "api_key": "sk-bench-" + label,
            "label": label}  # fmt: skip
    admin_call(base_url, password, "POST", "/upstreams", body)
