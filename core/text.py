"""Text that comes from outside (upstreams, headers, ids in paths) made safe to store or match."""

from __future__ import annotations

import re

CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Path ids are checked before they reach SQL: a NUL byte would be a database error, not a 404.
PATH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def clean_text(value: str | None, limit: int) -> str | None:
    """Valid UTF-8, no NUL, at most `limit` characters: storable in any text column."""
    if value is None:
        return None
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")[:limit]


def is_utf8(value: str) -> bool:
    """False for text decoded from bytes that are not UTF-8 (aiohttp keeps those as surrogates
    in header values), which cannot be encoded, hashed or stored."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
