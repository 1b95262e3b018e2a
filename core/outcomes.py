"""The names shared by the SQL functions and Python: admission outcomes, usage row statuses.

The database holds the same lists as enum types (`kaixu_admission_outcome`); a test checks
that both sides agree, so a new outcome is added in one migration and here.
"""

from __future__ import annotations

from enum import StrEnum


class AdmissionOutcome(StrEnum):
    """What `kaixu_admit_batch` answers for one request."""

    OK = "ok"
    UNAUTHORIZED = "unauthorized"
    DEVICE_REVOKED = "device_revoked"
    DEVICE_LIMIT = "device_limit"
    RATE_LIMITED = "rate_limited"
    CAP_EXCEEDED = "cap_exceeded"


class UsageStatus(StrEnum):
    """How an admitted call ended: its usage row's `status`."""

    OK = "ok"
    ERROR = "error"
    ABORTED = "aborted"


class CostSource(StrEnum):
    """Where a usage row's cost came from."""

    REPORTED = "reported"
    ESTIMATED = "estimated"
    NONE = "none"
