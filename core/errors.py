"""The one error hierarchy: each class knows its HTTP status and contract `type` string."""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    """An error the client should see, rendered by the error middleware in the contract's shape.

    The body carries `type` and `message` (our contract) and `code` and `param` (OpenAI's shape),
    so one rendering serves both the native and the OpenAI-compatible routes.
    """

    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, type: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.type_override = type
        self.extra = extra

    @property
    def error_type(self) -> str:
        return self.type_override or self.type

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "type": self.error_type,
            "message": self.message,
            "code": self.error_type,
            "param": None,
        }
        error.update(self.extra)
        return {"error": error}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request"


class ModelNotPriced(GatewayError):
    status = 400
    type = "model_not_priced"


class Unauthorized(GatewayError):
    status = 401
    type = "unauthorized"


class CapExceeded(GatewayError):
    status = 402
    type = "cap_exceeded"


class Forbidden(GatewayError):
    """403 with one of: provider_not_allowed, model_not_allowed, install_id_required,
    device_limit, device_revoked (passed as `type=`)."""

    status = 403
    type = "forbidden"


class NotFound(GatewayError):
    status = 404
    type = "not_found"


class RequestTimeout(GatewayError):
    """The request body did not arrive within BODY_READ_TIMEOUT_S."""

    status = 408
    type = "request_timeout"


class Conflict(GatewayError):
    status = 409
    type = "conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "payload_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, **extra: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **extra)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class InternalError(GatewayError):
    status = 500
    type = "internal_error"


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"

    def __init__(self, message: str, *, rejected: bool = False, **extra: Any) -> None:
        super().__init__(message, **extra)
        # The provider refused the request outright (an HTTP error status): nothing generated.
        self.rejected = rejected
        # Its status and (redacted) body, when it answered one: provider-native routes pass a
        # refusal of the client's own request on as it came.
        self.upstream_status: int | None = None
        self.upstream_body: str | None = None
        self.retry_after_s: float | None = None  # the provider's Retry-After, for cooling down
        self.passed_through = False  # a native route already sent the provider's error event


class Unavailable(GatewayError):
    status = 503
    type = "unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "upstream_timeout"

    def __init__(self, message: str, *, rejected: bool = False, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.rejected = rejected  # True when the request never reached the provider


def forget_tracebacks(exc: BaseException) -> None:
    """Drop a handled error's tracebacks, its causes' included. A frame they run through may
    hold the error (a local, a stored event, a call cut for a shared reason): a cycle that
    would keep the call and its prompt alive until the collector ran."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        cause.__traceback__ = None
        cause = cause.__cause__ or cause.__context__
