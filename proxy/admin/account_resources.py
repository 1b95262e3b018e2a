"""The admin accounts as the API shows them: an account, and who is signed in (`/me`)."""

from __future__ import annotations

from proxy.admin.fields import (
    BOOL,
    INT,
    STR,
    Field,
    Resource,
    Schema,
    enum,
    nullable_schema,
    strict_object,
    timestamp,
)
from proxy.admin.validation import boolean, one_of

ADMIN_ROLES = ("owner", "operator", "viewer")
ADMIN = Resource(
    "Admin",
    (
        Field("id", INT),
        Field("email", STR),
        Field("role", enum(*ADMIN_ROLES), parse=one_of(*ADMIN_ROLES)),
        Field("totp_enabled", BOOL),
        Field("disabled", BOOL, "disabled_at", parse=boolean, render=lambda at: at is not None),
        timestamp("last_login_at", null=True),
        timestamp("created_at"),
        timestamp("updated_at"),
    ),
)

# Who is signed in: an account, or the bootstrap owner (id and email null).
ME_FIELDS: dict[str, Schema] = {
    "id": nullable_schema(INT),
    "email": nullable_schema(STR),
    "role": enum(*ADMIN_ROLES),
    "totp_enabled": BOOL,
}
ME: Schema = strict_object(ME_FIELDS)
