"""Strict parsing of admin request bodies and query values; every problem is a 400 naming it."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from core import money
from core.errors import InvalidRequest, NotFound
from core.text import CUSTOMER_ID, PATH_ID

# A parser takes the field's name (for the 400) and its JSON value, and returns the value to store.
Parser = Callable[[str, Any], Any]

MAX_LIST_ENTRIES = 100
MAX_MODEL_CHARS = 128
MAX_INT4 = 2**31 - 1  # integer columns: larger values would fail in the database, not here
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PROVIDER_NAME_PATTERN = "^[a-z0-9][a-z0-9_-]{0,31}$"  # as the upstreams table checks it
_PROVIDER_NAME = re.compile(PROVIDER_NAME_PATTERN)


def invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field} {message}.", param=field)


async def read_object(
    request: web.Request, *, allowed: Collection[str] | None = None, empty_ok: bool = False
) -> dict[str, Any]:
    """The body as a JSON object (an empty body is {} if `empty_ok`); with `allowed`, any other
    field is refused. Routes whose body is a resource leave that check to Resource.parse."""
    raw = await request.read()
    if empty_ok and not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if allowed is not None:
        reject_unknown(body, allowed)
    return body


def reject_unknown(body: Mapping[str, Any], allowed: Collection[str]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.", param=unknown[0])


def nullable(parse: Parser) -> Parser:
    def parse_or_none(field: str, value: Any) -> Any:
        return None if value is None else parse(field, value)

    return parse_or_none


def text(max_chars: int, *, min_chars: int = 0) -> Parser:
    def parse(field: str, value: Any) -> str:
        if not isinstance(value, str):
            raise invalid(field, "must be a string")
        if not min_chars <= len(value) <= max_chars:
            raise invalid(field, f"must be {min_chars} to {max_chars} characters long")
        if _CONTROL.search(value):
            raise invalid(field, "must not contain control characters")
        return value

    return parse


def positive_int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, "must be a whole number")
    if not 1 <= value <= MAX_INT4:
        raise invalid(field, f"must be between 1 and {MAX_INT4}")
    return value


def boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(field, "must be true or false")
    return value


def cents(field: str, value: Any) -> int:
    """Cents in, integer micro-cents out."""
    try:
        return money.cents_to_uc(value, field=field)
    except ValueError as exc:
        raise InvalidRequest(f"{exc}.", param=field) from None


def usd_per_mtok(field: str, value: Any) -> int:
    try:
        return money.usd_per_mtok_to_uc(value, field=field)
    except ValueError as exc:
        raise InvalidRequest(f"{exc}.", param=field) from None


def customer_id(field: str, value: Any) -> str:
    if not isinstance(value, str) or not CUSTOMER_ID.fullmatch(value):
        raise invalid(
            field,
            "must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return value


def provider_name(field: str, value: Any) -> str:
    """A price row's provider: any lowercase name, so prices can precede a provider's support."""
    if not isinstance(value, str) or not _PROVIDER_NAME.fullmatch(value):
        raise invalid(field, "must be 1 to 32 of a-z, 0-9, '_' or '-', starting with a-z or 0-9")
    return value


def _string_list(field: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(field, "must be a list (or null for no restriction)")
    if len(value) > MAX_LIST_ENTRIES:
        raise invalid(field, f"must have at most {MAX_LIST_ENTRIES} entries")
    return value


def providers(field: str, value: Any) -> list[str]:
    """Provider names: the built-in ones and any an upstream may add (a name nothing serves
    yet allows nothing until it does)."""
    entries = _string_list(field, value)
    for i, entry in enumerate(entries):
        provider_name(f"{field}[{i}]", entry)
    return list(dict.fromkeys(entries))  # duplicates would only hide the list's meaning


def models(field: str, value: Any) -> list[str]:
    entries = _string_list(field, value)
    for i, entry in enumerate(entries):
        name = f"{field}[{i}]"
        text(MAX_MODEL_CHARS, min_chars=1)(name, entry)
        if "*" in entry[:-1]:
            raise invalid(name, "may contain * only at its end (a prefix pattern)")
    return list(dict.fromkeys(entries))


def path_id(request: web.Request, name: str, what: str) -> str:
    """A path segment shaped like one of our ids; anything else cannot exist: 404."""
    value = request.match_info[name]
    if not PATH_ID.fullmatch(value):
        raise NotFound(f"No such {what}.")
    return value


def path_number(request: web.Request, name: str, what: str) -> int:
    """A path segment that is one of our numeric ids (a bigint); anything else cannot exist:
    404, never a database error."""
    value = request.match_info[name]
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise NotFound(f"No such {what}.")
    return int(value)


def check_query(request: web.Request) -> None:
    """Every query parameter is text a column can hold: a NUL would be a database error (500),
    and U+FFFD is what bytes that were not UTF-8 decode to."""
    for name, value in request.query.items():
        if _CONTROL.search(name + value) or "\ufffd" in name + value:
            label = name if name.isprintable() and "\ufffd" not in name else "a query parameter"
            raise invalid(label, "must be UTF-8 text without control characters")


def query_int(request: web.Request, name: str, *, lo: int, hi: int) -> int | None:
    """A whole-number query parameter in [lo, hi], or None when it is absent or empty."""
    raw = request.query.get(name, "")
    if raw == "":
        return None
    if not raw.isascii() or not raw.isdigit():
        raise invalid(name, "must be a whole number")
    value = int(raw)
    if not lo <= value <= hi:
        raise invalid(name, f"must be between {lo} and {hi}")
    return value


def int_between(lo: int, hi: int) -> Parser:
    def parse(field: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(field, "must be a whole number")
        if not lo <= value <= hi:
            raise invalid(field, f"must be between {lo} and {hi}")
        return value

    return parse


def percents(max_entries: int) -> Parser:
    """Whole percents 1-100, at most `max_entries`, given in any order: sorted, each once."""

    def parse(field: str, value: Any) -> list[int]:
        if not isinstance(value, list) or len(value) > max_entries:
            raise invalid(field, f"must be a list of at most {max_entries} percents")
        for i, entry in enumerate(value):
            int_between(1, 100)(f"{field}[{i}]", entry)
        return sorted(set(value))

    return parse


def choices(*allowed: str) -> Parser:
    """A non-empty list of some of `allowed`, each once, in the given order."""

    def parse(field: str, value: Any) -> list[str]:
        if not isinstance(value, list) or not value:
            raise invalid(field, f"must be a non-empty list of {', '.join(allowed)}")
        for i, entry in enumerate(value):
            one_of(*allowed)(f"{field}[{i}]", entry)
        return list(dict.fromkeys(value))

    return parse


def one_of(*choices: str) -> Parser:
    def parse(field: str, value: Any) -> str:
        if value not in choices:
            raise invalid(field, f"must be one of {', '.join(choices)}")
        return value

    return parse


MAX_URL_CHARS = 2048


def http_url(field: str, value: Any) -> str:
    """An http(s) base URL without credentials or fragment (a query is kept: Azure's
    api-version); the trailing slash is dropped, as the paths appended start with one."""
    text(MAX_URL_CHARS, min_chars=1)(field, value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(field, "must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise invalid(field, "must not carry credentials (give the key as api_key)")
    if parts.fragment or " " in value:
        raise invalid(field, "must not have a fragment or spaces")
    try:
        parts.port  # noqa: B018 - raises for a malformed port
    except ValueError:
        raise invalid(field, "has a malformed port") from None
    base, query = value.split("?", 1) if "?" in value else (value, "")
    return base.rstrip("/") + (f"?{query}" if query else "")


def secret_text(field: str, value: Any) -> str:
    """A provider key: printable, no spaces; never echoed in the 400."""
    if not isinstance(value, str) or not 1 <= len(value) <= 4096:
        raise invalid(field, "must be a string of 1 to 4096 characters")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise invalid(field, "must be printable and contain no spaces")
    return value


def signing_secret(field: str, value: Any) -> str:
    """A webhook's signing secret: 16 to 256 printable characters, no spaces; never echoed."""
    if not isinstance(value, str) or not 16 <= len(value) <= 256:
        raise invalid(field, "must be a string of 16 to 256 characters")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise invalid(field, "must be printable and contain no spaces")
    return value


_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")
# Set by the gateway or by HTTP itself: an upstream's extra headers cannot replace them.
RESERVED_HEADERS = frozenset(
    {
        "host", "content-length", "content-type", "transfer-encoding", "connection", "upgrade",
        "te", "trailer", "keep-alive", "expect", "proxy-authorization", "proxy-connection",
    }
)  # fmt: skip
MAX_HEADERS = 20


def header_map(field: str, value: Any) -> dict[str, str]:
    """Extra headers for an upstream: names and values an HTTP request can carry."""
    if not isinstance(value, dict):
        raise invalid(field, "must be an object of header names to values")
    if len(value) > MAX_HEADERS:
        raise invalid(field, f"must have at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    for name, header_value in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise invalid(field, "has a header name that is not an HTTP token")
        if name.lower() in RESERVED_HEADERS:
            raise invalid(f"{field}.{name}", "is set by the gateway and cannot be replaced")
        if name.lower() in seen:
            raise invalid(f"{field}.{name}", "repeats a header name")
        seen.add(name.lower())
        if not isinstance(header_value, str) or not 1 <= len(header_value) <= 4096:
            raise invalid(f"{field}.{name}", "must be a string of 1 to 4096 characters")
        if not header_value.isascii() or not header_value.isprintable():
            raise invalid(f"{field}.{name}", "must be printable ASCII")
    return dict(value)
