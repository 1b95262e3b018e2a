"""A customer's month as the client sees it: cap, credit, spend, and the key's own figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from core.money import uc_to_cents


@dataclass(frozen=True, slots=True)
class MonthState:
    month: date
    cap_uc: int
    extra_uc: int
    spent_uc: int
    key_cap_uc: int | None
    key_spent_uc: int

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MonthState:
        return cls(
            row["month"], row["cap_uc"], row["extra_uc"], row["spent_uc"],
            row["key_cap_uc"], row["key_spent_uc"],
        )  # fmt: skip

    def after(self, cost_uc: int) -> MonthState:
        """This month with one more cost booked (as kaixu_book_customer_months would): for an
        answer whose settlement waits in the journal, while the database is away."""
        beyond_cap = max(self.spent_uc + cost_uc - self.cap_uc, 0) - max(
            self.spent_uc - self.cap_uc, 0
        )
        return MonthState(
            self.month,
            self.cap_uc,
            max(self.extra_uc - beyond_cap, 0),
            self.spent_uc + cost_uc,
            self.key_cap_uc,
            self.key_spent_uc + cost_uc,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.month.strftime("%Y-%m"),
            "cap_cents": uc_to_cents(self.cap_uc),
            "extra_cents": uc_to_cents(self.extra_uc),
            "spent_cents": uc_to_cents(self.spent_uc),
            "key_cap_cents": None if self.key_cap_uc is None else uc_to_cents(self.key_cap_uc),
            "key_spent_cents": uc_to_cents(self.key_spent_uc),
        }
