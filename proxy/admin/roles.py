"""Who is calling the admin API, and what their role lets them do.

`owner` may do everything; `operator` runs the customers (customers, keys, credit, devices,
invoices); `viewer` reads and exports. Every route declares the least role it needs (routing.py,
documented per operation in the OpenAPI document) and the auth middleware refuses the rest with
403 `forbidden`. ADMIN_PASSWORD is the bootstrap owner: a caller without an account.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from core.errors import Forbidden
from proxy.admin.routing import Role

RANK: dict[Role, int] = {"viewer": 0, "operator": 1, "owner": 2}
ROLES: tuple[Role, ...] = ("owner", "operator", "viewer")
BOOTSTRAP = "the bootstrap owner (ADMIN_PASSWORD)"


@dataclass(frozen=True, slots=True)
class Caller:
    role: Role
    admin_id: int | None = None  # None: the bootstrap owner
    email: str | None = None
    totp_enabled: bool = False  # known at sign-in; later calls read it from the account

    @property
    def holder(self) -> int:
        """The sessions' holder id: the account's, 0 for the bootstrap owner."""
        return self.admin_id or 0

    def may(self, needed: Role) -> bool:
        return RANK[self.role] >= RANK[needed]

    def describe(self) -> str:
        return self.email or BOOTSTRAP


CALLER = web.RequestKey("admin_caller", Caller)
BOOTSTRAP_OWNER = Caller("owner")


def caller(request: web.Request) -> Caller:
    return request[CALLER]


def require(request: web.Request, needed: Role) -> None:
    """403 unless the caller's role is at least `needed`."""
    who = caller(request)
    if not who.may(needed):
        raise Forbidden(
            f"This needs the {needed} role; {who.describe()} is {who.role}.", type="forbidden"
        )
