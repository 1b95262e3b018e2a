"""A key together with its customer's policy, as cached per process, and the allowlist rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _matches(patterns: tuple[str, ...] | None, value: str) -> bool:
    """None allows everything; an entry ending in * is a prefix pattern (`gpt-4o*`)."""
    if patterns is None:
        return True
    for pattern in patterns:
        if pattern.endswith("*"):
            if value.startswith(pattern[:-1]):
                return True
        elif value == pattern:
            return True
    return False


def _tuple(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    key_id: str
    customer_id: str
    secret_hash: bytes
    kind: str
    revoked: bool
    customer_active: bool
    cap_uc: int | None
    rpm_limit: int | None
    customer_rpm_limit: int | None
    max_devices: int | None
    require_install: bool
    allowed_providers: tuple[str, ...] | None
    allowed_models: tuple[str, ...] | None
    customer_allowed_providers: tuple[str, ...] | None
    customer_allowed_models: tuple[str, ...] | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> KeyPolicy:
        return cls(
            key_id=row["id"],
            customer_id=row["customer_id"],
            secret_hash=bytes(row["secret_hash"]),
            kind=row["kind"],
            revoked=row["revoked"],
            customer_active=row["customer_active"],
            cap_uc=row["cap_uc"],
            rpm_limit=row["rpm_limit"],
            customer_rpm_limit=row["customer_rpm_limit"],
            max_devices=row["max_devices"],
            require_install=row["require_install"],
            allowed_providers=_tuple(row["allowed_providers"]),
            allowed_models=_tuple(row["allowed_models"]),
            customer_allowed_providers=_tuple(row["customer_allowed_providers"]),
            customer_allowed_models=_tuple(row["customer_allowed_models"]),
        )

    def allows_provider(self, provider: str) -> bool:
        """The key's list narrows the customer's: both must allow."""
        return _matches(self.customer_allowed_providers, provider) and _matches(
            self.allowed_providers, provider
        )

    def allows_model(self, model: str) -> bool:
        return _matches(self.customer_allowed_models, model) and _matches(
            self.allowed_models, model
        )
