"""Gateway settings: one frozen dataclass, parsed from the environment in this one place."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from core.money import cents_to_uc


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


ENVIRONMENTS = ("development", "production")


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    # LISTEN/NOTIFY, migrations and session locks, when database_url is a transaction-pooling
    # PgBouncer (then its pool keeps no prepared statements: docs/scaling.md).
    database_direct_url: str | None = None
    database_read_url: str | None = None  # a replica for the admin's heavy reads
    data_dir: Path = Path(".data")
    environment: str = "development"
    admin_password: str | None = None
    secret: str | None = None
    secret_previous: tuple[str, ...] = ()  # earlier KAIXU_SECRETs, to open what they sealed
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    openai_api_key: str | None = None
    anthropic_api_key: str | None = None
    gemini_api_key: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    anthropic_base_url: str = "https://api.anthropic.com"
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    public_url: str | None = None
    demo_provider: bool | None = None
    gateway_monthly_ceiling_uc: int | None = None
    max_body_bytes: int = 1024 * 1024
    default_max_tokens: int = 1024
    max_tokens_limit: int = 128000  # Claude Code asks for up to 64,000 (docs/native-apis.md)
    upstream_connect_timeout_s: float = 10.0
    upstream_read_timeout_s: float = 120.0
    upstream_total_timeout_s: float = 600.0
    upstream_max_attempts: int = 3  # upstreams tried before the first byte reaches the client
    db_pool_min: int = 2
    db_pool_max: int = 20
    db_command_timeout_s: float = 5.0
    log_level: str = "INFO"
    body_read_timeout_s: float = 30.0
    shutdown_grace_s: float = 30.0
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    image_fetch_timeout_s: float = 10.0
    image_fetch_max_bytes: int = 20 * 1024 * 1024
    image_fetch_allow_hosts: frozenset[str] = frozenset()  # plain http and any address: tests
    # Usage rows older than this many months before the current one are archived to CSV files
    # and dropped, once the month is invoiced (None: kept for ever). docs/scaling.md.
    usage_retention_months: int | None = None
    usage_archive_dir: Path | None = None  # None: <data_dir>/usage-archive
    # Alert webhooks (docs/api.md, Alerts): each POST's timeout, the first retry's delay
    # (doubling up to an hour) and how long after the alert a delivery is tried at all.
    alert_webhook_timeout_s: float = 10.0
    alert_retry_base_s: float = 30.0
    alert_retry_for_s: float = 86400.0

    @property
    def archive_dir(self) -> Path:
        return self.usage_archive_dir or self.data_dir / "usage-archive"

    @property
    def direct_database_url(self) -> str | None:
        return self.database_direct_url or self.database_url

    @property
    def behind_pgbouncer(self) -> bool:
        """DATABASE_URL goes through a transaction-pooling PgBouncer (a direct URL is given)."""
        return (
            self.database_direct_url is not None and self.database_direct_url != self.database_url
        )

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def admin_url(self) -> str:
        base = self.public_url or f"http://{_url_host(self.host)}:{self.port}"
        return base.rstrip("/") + "/admin/"

    @property
    def reservation_ttl_s(self) -> int:
        """A reservation outlives the longest request it can belong to, then is swept."""
        return int(self.upstream_total_timeout_s) + 120

    @property
    def demo_enabled(self) -> bool:
        """The demo provider is on when asked for, or by default when no real key is set."""
        if self.demo_provider is not None:
            return self.demo_provider
        return not (self.openai_api_key or self.anthropic_api_key or self.gemini_api_key)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool | None:
    raw = _text(env, name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _cents(env: Mapping[str, str], name: str) -> int | None:
    raw = _text(env, name)
    if raw is None:
        return None
    try:
        return cents_to_uc(raw, field=name)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _http_url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = _text(env, name)
    if raw is None:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _database_url(env: Mapping[str, str], name: str = "DATABASE_URL") -> str | None:
    raw = _text(env, name)
    if raw is None:
        return None
    scheme = urlsplit(raw).scheme
    if scheme not in ("postgres", "postgresql"):
        raise SettingsError(
            f"{name} must start with postgresql:// or postgres://, got scheme {scheme!r}"
        )
    return raw


def _host(env: Mapping[str, str]) -> str:
    raw = _text(env, "HOST") or "127.0.0.1"
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})", raw):
            raise SettingsError(f"HOST must be an IP address or host name, got {raw!r}") from None
    return raw


def _networks(
    env: Mapping[str, str], name: str
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """A comma-separated list of addresses or CIDRs (a bare address is a /32 or /128)."""
    raw = _text(env, name)
    if raw is None:
        return ()
    networks = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(f"{name} must list IP addresses or CIDRs, got {item!r}") from None
    return tuple(networks)


DEFAULTS = Settings()


def load_settings(env: Mapping[str, str]) -> Settings:
    """Parse settings from an environment mapping; raise SettingsError naming what is wrong."""
    environment = (_text(env, "KAIXU_ENV") or "development").lower()
    if environment not in ENVIRONMENTS:
        raise SettingsError(
            f"KAIXU_ENV must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
        )
    settings = Settings(
        database_url=_database_url(env),
        database_direct_url=_database_url(env, "DATABASE_DIRECT_URL"),
        database_read_url=_database_url(env, "DATABASE_READ_URL"),
        data_dir=Path(_text(env, "DATA_DIR") or ".data"),
        environment=environment,
        admin_password=_text(env, "ADMIN_PASSWORD"),
        secret=_text(env, "KAIXU_SECRET"),
        secret_previous=tuple(
            s.strip() for s in (_text(env, "KAIXU_SECRET_PREVIOUS") or "").split(",") if s.strip()
        ),
        host=_host(env),
        port=_int(env, "PORT", 8080, 0, 65535),
        workers=_int(env, "WORKERS", 1, 1, 64),
        openai_api_key=_text(env, "OPENAI_API_KEY"),
        anthropic_api_key=_text(env, "ANTHROPIC_API_KEY"),
        gemini_api_key=_text(env, "GEMINI_API_KEY"),
        openai_base_url=_http_url(env, "OPENAI_BASE_URL", DEFAULTS.openai_base_url),
        anthropic_base_url=_http_url(env, "ANTHROPIC_BASE_URL", DEFAULTS.anthropic_base_url),
        gemini_base_url=_http_url(env, "GEMINI_BASE_URL", DEFAULTS.gemini_base_url),
        stripe_secret_key=_text(env, "STRIPE_SECRET_KEY"),
        stripe_webhook_secret=_text(env, "STRIPE_WEBHOOK_SECRET"),
        stripe_api_base=_http_url(env, "STRIPE_API_BASE", None),
        public_url=_http_url(env, "PUBLIC_URL", None),
        demo_provider=_bool(env, "DEMO_PROVIDER"),
        gateway_monthly_ceiling_uc=_cents(env, "GATEWAY_MONTHLY_CEILING_CENTS"),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", DEFAULTS.max_body_bytes, 1024, 64 * 1024 * 1024),
        default_max_tokens=_int(
            env, "DEFAULT_MAX_TOKENS", DEFAULTS.default_max_tokens, 1, 1_000_000
        ),
        max_tokens_limit=_int(env, "MAX_TOKENS_LIMIT", DEFAULTS.max_tokens_limit, 1, 1_000_000),
        upstream_connect_timeout_s=_float(
            env, "UPSTREAM_CONNECT_TIMEOUT_S", DEFAULTS.upstream_connect_timeout_s, 0.1, 600
        ),
        upstream_read_timeout_s=_float(
            env, "UPSTREAM_READ_TIMEOUT_S", DEFAULTS.upstream_read_timeout_s, 0.1, 3600
        ),
        upstream_total_timeout_s=_float(
            env, "UPSTREAM_TOTAL_TIMEOUT_S", DEFAULTS.upstream_total_timeout_s, 1, 86400
        ),
        upstream_max_attempts=_int(
            env, "UPSTREAM_MAX_ATTEMPTS", DEFAULTS.upstream_max_attempts, 1, 10
        ),
        db_pool_min=_int(env, "DB_POOL_MIN", DEFAULTS.db_pool_min, 0, 1000),
        db_pool_max=_int(env, "DB_POOL_MAX", DEFAULTS.db_pool_max, 1, 1000),
        db_command_timeout_s=_float(
            env, "DB_COMMAND_TIMEOUT_S", DEFAULTS.db_command_timeout_s, 0.1, 600
        ),
        log_level=(_text(env, "LOG_LEVEL") or "INFO").upper(),
        body_read_timeout_s=_float(
            env, "BODY_READ_TIMEOUT_S", DEFAULTS.body_read_timeout_s, 0.1, 3600
        ),
        shutdown_grace_s=_float(env, "SHUTDOWN_GRACE_S", DEFAULTS.shutdown_grace_s, 0, 3600),
        trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
        image_fetch_timeout_s=_float(
            env, "IMAGE_FETCH_TIMEOUT_S", DEFAULTS.image_fetch_timeout_s, 0.1, 120
        ),
        image_fetch_max_bytes=_int(
            env, "IMAGE_FETCH_MAX_BYTES", DEFAULTS.image_fetch_max_bytes, 1024, 64 * 1024 * 1024
        ),
        image_fetch_allow_hosts=frozenset(
            h.strip().lower()
            for h in (_text(env, "IMAGE_FETCH_ALLOW_HOSTS") or "").split(",")
            if h.strip()
        ),
        usage_retention_months=_int(env, "USAGE_RETENTION_MONTHS", 0, 0, 1200) or None,
        usage_archive_dir=Path(raw) if (raw := _text(env, "USAGE_ARCHIVE_DIR")) else None,
        alert_webhook_timeout_s=_float(
            env, "ALERT_WEBHOOK_TIMEOUT_S", DEFAULTS.alert_webhook_timeout_s, 0.1, 120
        ),
        alert_retry_base_s=_float(
            env, "ALERT_RETRY_BASE_S", DEFAULTS.alert_retry_base_s, 0.01, 3600
        ),
        alert_retry_for_s=_float(
            env, "ALERT_RETRY_FOR_S", DEFAULTS.alert_retry_for_s, 1, 7 * 86400
        ),
    )
    if settings.database_url is None and (
        settings.database_direct_url or settings.database_read_url
    ):
        raise SettingsError("DATABASE_DIRECT_URL and DATABASE_READ_URL need a DATABASE_URL")
    if settings.default_max_tokens > settings.max_tokens_limit:
        raise SettingsError("DEFAULT_MAX_TOKENS must not exceed MAX_TOKENS_LIMIT")
    if settings.db_pool_min > settings.db_pool_max:
        raise SettingsError("DB_POOL_MIN must not exceed DB_POOL_MAX")
    if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(
            f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}"
        )
    if settings.is_production:
        _check_production(settings)
    return settings


def _check_production(settings: Settings) -> None:
    """In production nothing secret is generated: a missing one stops the start."""
    missing = [
        name
        for name, value in (
            ("DATABASE_URL", settings.database_url),
            ("ADMIN_PASSWORD", settings.admin_password),
            ("KAIXU_SECRET", settings.secret),
        )
        if not value
    ]
    if missing:
        raise SettingsError(f"KAIXU_ENV=production requires {', '.join(missing)}")
    if len(settings.admin_password or "") < 12:
        raise SettingsError("ADMIN_PASSWORD must be at least 12 characters in production")
    if len(settings.secret or "") < 32:
        raise SettingsError("KAIXU_SECRET must be at least 32 characters in production")
    if settings.stripe_secret_key and not settings.stripe_webhook_secret:
        raise SettingsError("STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not")
