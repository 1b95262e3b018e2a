"""The alerts' admin resources (resources.RESOURCES lists them with the others)."""

from __future__ import annotations

from core.alerts import KINDS
from proxy.admin.fields import (
    BOOL,
    INT,
    STR,
    Field,
    Resource,
    array,
    enum,
    money,
    month,
    nullable_schema,
    strict_object,
    timestamp,
)
from proxy.admin.validation import boolean, choices, http_url, nullable, signing_secret

DELIVERY_STATES = ("pending", "delivered", "failed")

ALERT = Resource(
    "Alert",
    (
        Field("id", INT),
        Field("customer_id", STR),
        Field("kind", enum(*KINDS)),
        # The percent crossed; null for credit_low (stored as 0, which no threshold can be).
        Field("threshold", nullable_schema(INT), render=lambda t: t or None),
        month(),
        timestamp("at", "created_at"),
        money("spent_cents", "spent_uc"),
        money("allowance_cents", "allowance_uc"),
        money("extra_cents", "extra_uc"),
        Field(
            "delivery",
            strict_object(
                {
                    "state": enum("none", *DELIVERY_STATES),
                    "webhooks": INT,
                    "delivered": INT,
                    "pending": INT,
                    "failed": INT,
                }
            ),
        ),
    ),
)

ALERT_WEBHOOK = Resource(
    "AlertWebhook",
    (
        Field("id", STR),
        Field("url", STR, parse=http_url),
        Field(
            "events",
            nullable_schema({**array(enum(*KINDS)), "description": "null: every kind"}),
            parse=nullable(choices(*KINDS)),
        ),
        Field("active", BOOL, parse=boolean),
        timestamp("created_at"),
        timestamp("updated_at"),
        Field(
            "secret",
            {**STR, "description": "the signing secret: only in the create answer, once"},
            parse=signing_secret,
            optional=True,
        ),
    ),
)

ALERT_DELIVERY = Resource(
    "AlertDelivery",
    (
        Field("id", INT),
        Field("alert_id", INT),
        Field("webhook_id", STR),
        Field("state", enum(*DELIVERY_STATES)),
        Field("attempts", INT),
        timestamp("next_attempt_at"),
        timestamp("created_at"),
        timestamp("finished_at", null=True),
        timestamp("last_attempt_at", null=True),
        Field("last_status_code", nullable_schema(INT)),
        Field("last_error", nullable_schema(STR)),
    ),
)

ALERT_RESOURCES = (ALERT, ALERT_WEBHOOK, ALERT_DELIVERY)
