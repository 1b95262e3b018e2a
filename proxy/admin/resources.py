"""Every admin API resource, declared once: its fields' names, schemas, columns and parsers.

The routes render rows and parse bodies with these, and the OpenAPI document's components are
their schemas; tests/test_admin_resources.py checks the columns against the db modules'.
"""

from __future__ import annotations

from proxy.admin.fields import (
    BOOL,
    DAY,
    INT,
    JSON_OBJECT,
    STR,
    Field,
    Resource,
    array,
    enum,
    money,
    month,
    nested,
    nullable_schema,
    price,
    timestamp,
)
from proxy.admin.validation import (
    PROVIDERS,
    boolean,
    customer_id,
    models,
    nullable,
    positive_int,
    provider_name,
    providers,
    text,
)

# The policy an operator sets on a customer and narrows per key.
POLICY = (
    Field("rpm_limit", nullable_schema(INT), parse=nullable(positive_int)),
    Field(
        "allowed_providers",
        nullable_schema(array(enum(*PROVIDERS))),
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
LONG_PRICES = ("long_input", "long_output", "long_cached_input", "long_cache_write")
PRICE = Resource(
    "Price",
    (
        Field("provider", STR, parse=provider_name),
        Field("model", STR, parse=text(128, min_chars=1)),
        price("input", null=False),
        price("output", null=False),
        price("cached_input"),
        price("cache_write"),
        Field("long_context_threshold", nullable_schema(INT), parse=positive_int),
        *(price(name) for name in LONG_PRICES),
        timestamp("updated_at"),
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
        Field("current", {**BOOL, "description": "the session of the token making this call"}),
    ),
)

# The OpenAPI document's components, in its order.
RESOURCES = (
    CUSTOMER, KEY, DEVICE, TOPUP, PRICE, USAGE_EVENT, USAGE_DAY, USAGE_MODEL, USAGE,
    INVOICE_SUMMARY, INVOICE_CUSTOMER, INVOICE_LINE, INVOICE_TOPUP, INVOICE, AUDIT_ENTRY,
    ADMIN_SESSION,
)  # fmt: skip
