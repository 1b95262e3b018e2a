"""Every admin API resource, declared once: its fields' names, schemas, columns and parsers.

The routes render rows and parse bodies with these, and the OpenAPI document's components are
their schemas; tests/test_admin_resources.py checks the columns against the db modules'.
"""

from __future__ import annotations

from core.alerts import MAX_THRESHOLDS
from core.pricing import LONG_PRICES, SHORT_PRICES
from core.upstreams import WIRE_APIS
from proxy.admin.account_resources import ADMIN
from proxy.admin.alert_resources import ALERT_RESOURCES
from proxy.admin.fields import (
    BOOL,
    DAY,
    INT,
    JSON_OBJECT,
    NUM,
    STR,
    TIME,
    Field,
    Resource,
    Schema,
    array,
    enum,
    money,
    month,
    nested,
    nullable_schema,
    price,
    strict_object,
    timestamp,
)
from proxy.admin.validation import (
    PROVIDER_NAME_PATTERN,
    boolean,
    customer_id,
    header_map,
    http_url,
    int_between,
    models,
    nullable,
    one_of,
    percents,
    positive_int,
    provider_name,
    providers,
    secret_text,
    text,
)

PROVIDER_NAME = {**STR, "pattern": PROVIDER_NAME_PATTERN}

# The policy an operator sets on a customer and narrows per key.
POLICY = (
    Field("rpm_limit", nullable_schema(INT), parse=nullable(positive_int)),
    Field(
        "allowed_providers",
        nullable_schema(array(PROVIDER_NAME)),
        parse=nullable(providers),
    ),
    Field(
        "allowed_models",
        nullable_schema({**array(STR), "description": "a trailing * is a prefix pattern"}),
        parse=nullable(models),
    ),
)

CUSTOMER = Resource(
    "Customer",
    (
        Field("id", STR, parse=nullable(customer_id)),  # given only on create
        Field("name", STR, parse=text(200)),
        Field("plan", STR, parse=text(64, min_chars=1)),
        money("monthly_cap_cents", "monthly_cap_uc", writable=True),
        *POLICY,
        Field("active", BOOL, parse=boolean),  # changed only by PATCH
        Field(
            "alert_thresholds",
            {
                **array({**INT, "minimum": 1, "maximum": 100}),
                "maxItems": MAX_THRESHOLDS,
                "description": "percents of the month's allowance that fire an alert",
            },
            parse=percents(MAX_THRESHOLDS),
        ),
        money("credit_low_cents", "credit_low_uc", null=True, writable=True),
        Field("active_keys", INT),
        money("extra_cents", "extra_uc"),
        timestamp("created_at"),
        timestamp("updated_at"),
    ),
)
CUSTOMER_CREATE = tuple(name for name in CUSTOMER.writable() if name != "active")
CUSTOMER_PATCH = tuple(name for name in CUSTOMER.writable() if name != "id")

KEY = Resource(
    "Key",
    (
        Field("id", STR),
        Field("customer_id", STR),
        Field("kind", enum("master", "sub")),
        Field("last4", STR),
        Field("label", STR, parse=text(200)),
        money("cap_cents", "cap_uc", null=True, writable=True),
        POLICY[0],
        Field("max_devices", nullable_schema(INT), parse=nullable(positive_int)),
        Field("require_install", BOOL, parse=boolean),
        *POLICY[1:],
        timestamp("revoked_at", null=True),
        timestamp("created_at"),
        Field("rotated_from", nullable_schema(STR)),
        Field(
            "key",
            {**STR, "description": "the plaintext key: only in create/rotate answers, once"},
            optional=True,
        ),
    ),
)

DEVICE = Resource(
    "Device",
    (
        Field("id", INT),
        Field("key_id", STR),
        Field("customer_id", STR),
        Field("install_id", STR),
        Field("user_agent", nullable_schema(STR)),
        timestamp("first_seen"),
        timestamp("last_seen"),
        timestamp("revoked_at", null=True),
    ),
)

TOPUP = Resource(
    "Topup",
    (
        Field("id", INT),
        Field("customer_id", STR),
        money("amount_cents", "amount_uc", writable=True),
        Field("source", enum("manual", "stripe")),
        Field("note", STR, parse=text(500)),
        Field("actor", STR),
        Field("stripe_session_id", nullable_schema(STR)),
        timestamp("created_at"),
    ),
)

# The price fields that must be given (the rest may be null); Price's attribute names.
REQUIRED_PRICES = ("input", "output")
SHORT_PRICE_FIELDS = tuple(price(name, null=name not in REQUIRED_PRICES) for name in SHORT_PRICES)
ALIAS_TARGET = {**STR, "description": "the priced model it is billed as"}
PRICE = Resource(
    "Price",
    (
        Field("provider", PROVIDER_NAME, parse=provider_name),
        Field("model", STR, parse=text(128, min_chars=1)),
        *SHORT_PRICE_FIELDS,
        Field("long_context_threshold", nullable_schema(INT), parse=positive_int),
        *(price(name) for name in LONG_PRICES),
        timestamp("updated_at"),
    ),
)
MODEL_ALIAS = Resource(
    "ModelAlias",
    (
        Field("provider", PROVIDER_NAME, parse=provider_name),
        Field("alias", STR, parse=text(128, min_chars=1)),
        Field("model", ALIAS_TARGET, parse=text(128, min_chars=1)),
        Field("shipped", {**BOOL, "description": "false: added by an operator"}),
        timestamp("created_at"),
    ),
)

# Token counts and what they cost: of one request, and summed over many.
TOKENS = (
    Field("input_tokens", INT),
    Field("cached_input_tokens", INT),
    Field("cache_write_tokens", INT),
    Field("output_tokens", INT),
)
TOTALS = (Field("requests", INT), *TOKENS, money("cost_cents", "cost_uc"))

USAGE_EVENT = Resource(
    "UsageEvent",
    (
        Field("id", INT),
        timestamp("time", "created_at"),
        Field("key_id", STR),
        Field("install_id", nullable_schema(STR)),
        Field("provider", STR),
        Field("model", STR),
        *TOKENS,
        money("cost_cents", "cost_uc"),
        Field("status", enum("ok", "error", "aborted")),
        Field("cost_source", enum("reported", "estimated", "none")),
        Field("latency_ms", INT),
        Field("request_id", nullable_schema(STR)),
        Field("error", nullable_schema(STR)),
        Field("upstream_id", nullable_schema(STR)),
        Field("attempts", nullable_schema(INT)),
    ),
)
USAGE_DAY = Resource(
    "UsageDay",
    (
        Field("day", DAY, render=lambda day: day.isoformat()),
        money("cost_cents", "cost_uc"),
        Field("requests", INT),
    ),
)
USAGE_MODEL = Resource(
    "UsageModel",
    (
        Field("provider", STR),
        Field("model", STR),
        Field("requests", INT),
        Field("input_tokens", INT),
        Field("output_tokens", INT),
        money("cost_cents", "cost_uc"),
    ),
)
USAGE = Resource(
    "Usage",
    (
        month(),
        Field("customer_id", STR),
        Field("key_id", nullable_schema(STR)),
        money("cap_cents", "monthly_cap_uc"),
        money("extra_cents", "extra_uc"),
        money("spent_cents", "spent_uc"),
        money("reserved_cents", "reserved_uc"),
        *TOTALS,
        nested("events", USAGE_EVENT, many=True),
        Field("next_cursor", nullable_schema(INT)),
        nested("by_day", USAGE_DAY, many=True),
        nested("by_model", USAGE_MODEL, many=True),
        # Only with ?key_id=: that key's own cap and month, from its own row.
        money("key_cap_cents", "cap_uc", null=True, optional=True),
        money("key_spent_cents", "spent_uc", optional=True),
        money("key_reserved_cents", "reserved_uc", optional=True),
    ),
)
KEY_USAGE_FIELDS = tuple(f.name for f in USAGE.fields if f.optional)

INVOICE_SUMMARY = Resource(
    "InvoiceSummary",
    (
        Field("id", INT),
        Field("customer_id", STR),
        month(),
        Field("version", INT),
        money("total_cents", "total_uc"),
        timestamp("created_at"),
    ),
)
INVOICE_CUSTOMER = Resource(
    "InvoiceCustomer", (Field("id", STR), Field("name", STR), Field("plan", STR))
)
INVOICE_LINE = Resource(
    "InvoiceLine",
    (
        Field("provider", STR),
        Field("model", STR),
        *TOTALS,
    ),
)
INVOICE_TOPUP = Resource(
    "InvoiceTopup",
    (
        Field("id", INT),
        timestamp("created_at"),
        money("amount_cents", "amount_uc"),
        Field("source", enum("manual", "stripe")),
        Field("note", STR),
    ),
)
INVOICE = Resource(
    "Invoice",
    (
        Field("id", INT),
        Field("customer_id", STR),
        # The snapshot: frozen as JSON when the invoice is made, served as stored.
        nested("customer", INVOICE_CUSTOMER),
        month(),
        Field("version", INT),
        timestamp("created_at"),
        money("cap_cents", "monthly_cap_uc"),
        nested("line_items", INVOICE_LINE, many=True),
        money("usage_total_cents", "usage_uc"),
        money("credit_used_cents", "credit_used_uc"),
        money("credit_added_cents", "credit_added_uc"),
        nested("topups", INVOICE_TOPUP, many=True),
        money("extra_cents", "extra_uc"),
        # What the customer consumed that month, whether the cap or the credit paid for it.
        money("total_cents", "usage_uc"),
        # The running counter the limits use; it and the usage rows are written together.
        money("counters_spent_cents", "spent_uc"),
    ),
)
SNAPSHOT_FIELDS = tuple(f.name for f in INVOICE.fields if f.name not in ("id", "customer_id"))

AUDIT_ENTRY = Resource(
    "AuditEntry",
    (
        Field("id", INT),
        timestamp("at"),
        Field("actor", STR),
        Field("address", nullable_schema(STR)),
        Field("action", STR),
        Field("customer_id", nullable_schema(STR)),
        Field("target", nullable_schema(STR)),
        Field("before", nullable_schema(JSON_OBJECT)),
        Field("after", nullable_schema(JSON_OBJECT)),
    ),
)

ADMIN_SESSION = Resource(
    "AdminSession",
    (
        Field("id", INT),
        timestamp("created_at"),
        timestamp("expires_at"),
        Field("address", nullable_schema(STR)),
        Field("user_agent", nullable_schema(STR)),
        Field("email", {**nullable_schema(STR), "description": "whose: null for ADMIN_PASSWORD"}),
        Field("current", {**BOOL, "description": "the session of the token making this call"}),
    ),
)


UPSTREAM_HEALTH: Schema = strict_object(
    {
        "requests": {**INT, "description": "attempts in the last 15 minutes, all processes"},
        "errors": INT,
        "errors_by_kind": {"type": "object", "additionalProperties": INT},
        "success_rate": nullable_schema(NUM),
        "latency_p50_ms": nullable_schema(INT),
        "cooling_until": nullable_schema(TIME),
        "last_error": nullable_schema(STR),
        "last_error_at": nullable_schema(TIME),
    }
)
HEADERS: Schema = {"type": "object", "additionalProperties": STR}
UPSTREAM = Resource(
    "Upstream",
    (
        Field("id", STR),
        Field("provider", PROVIDER_NAME, parse=provider_name),
        Field("api", enum(*WIRE_APIS), parse=one_of(*WIRE_APIS)),
        Field("label", STR, parse=text(200)),
        Field("base_url", STR, parse=http_url),
        Field("key_last4", STR),
        Field("header_names", array(STR)),
        Field(
            "models",
            nullable_schema({**array(STR), "description": "a trailing * is a prefix pattern"}),
            parse=nullable(models),
        ),
        Field("priority", {**INT, "description": "lowest first"}, parse=int_between(-1000, 1000)),
        Field("weight", INT, parse=int_between(1, 1000)),
        Field("enabled", BOOL, parse=boolean),
        Field("read_only", {**BOOL, "description": "from the environment: not editable here"}),
        Field("health", UPSTREAM_HEALTH),
        timestamp("created_at", null=True),
        timestamp("updated_at", null=True),
        # Write-only: never in an answer.
        Field("api_key", STR, parse=secret_text, optional=True),
        Field("headers", HEADERS, parse=header_map, optional=True),
    ),
)
UPSTREAM_TEST = strict_object(
    {
        "ok": BOOL,
        "upstream_id": STR,
        "model": STR,
        "status": nullable_schema(INT),
        "latency_ms": INT,
        "text": nullable_schema(STR),
        "error": nullable_schema(STR),
    }
)

# The OpenAPI document's components, in its order.
RESOURCES = (
    CUSTOMER, KEY, DEVICE, TOPUP, PRICE, MODEL_ALIAS, USAGE_EVENT, USAGE_DAY, USAGE_MODEL, USAGE,
    INVOICE_SUMMARY, INVOICE_CUSTOMER, INVOICE_LINE, INVOICE_TOPUP, INVOICE, AUDIT_ENTRY,
    ADMIN_SESSION, ADMIN, UPSTREAM, *ALERT_RESOURCES,
)  # fmt: skip
