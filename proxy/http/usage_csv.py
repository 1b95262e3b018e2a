"""The columns of a usage CSV: the admin's export and retention's archive files write the same."""

from __future__ import annotations

from proxy.http.csv_stream import Column, bool_cell, cents_cell, int_cell, text_cell, time_cell

USAGE_COLUMNS = (
    Column("id", int_cell),
    Column("time", time_cell),
    Column("customer_id", text_cell),
    Column("key_id", text_cell),
    Column("install_id", text_cell),
    Column("provider", text_cell),
    Column("model", text_cell),
    Column("upstream_model", text_cell),
    Column("input_tokens", int_cell),
    Column("cached_input_tokens", int_cell),
    Column("cache_write_tokens", int_cell),
    Column("output_tokens", int_cell),
    Column("cost_cents", cents_cell),
    Column("status", text_cell),
    Column("cost_source", text_cell),
    Column("latency_ms", int_cell),
    Column("request_id", text_cell),
    Column("clamped", bool_cell),  # the provider's reported usage was beyond the request's bounds
    Column("upstream_id", text_cell),  # the upstream that served the call (or failed it last)
    Column("attempts", int_cell),  # how many upstreams were tried
)
