"""`python -m proxy upstreams reencrypt`: every stored upstream key (and its headers) sealed
again under the current KAIXU_SECRET, after a rotation (docs/upstreams.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from db import upstreams as db_upstreams
from proxy.infra.secretbox import SecretBox, SecretBoxError
from proxy.upstreams.registry import headers_context, key_context


@dataclass(slots=True)
class Resealed:
    moved: list[str] = field(default_factory=list)  # sealed again under the current secret
    current: list[str] = field(default_factory=list)  # already under it
    unreadable: list[str] = field(default_factory=list)  # under a secret that is not configured


async def reseal_all(dsn: str, box: SecretBox) -> Resealed:
    """One transaction: either every readable upstream moves or none does."""
    outcome = Resealed()
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            # Locked: an admin's change of a key meanwhile waits, and is not overwritten.
            for row in await db_upstreams.list_upstreams(conn, for_update=True):
                uid = row["id"]
                key_enc, headers_enc = row["key_enc"], row["headers_enc"]
                if box.is_current(key_enc) and (headers_enc is None or box.is_current(headers_enc)):
                    outcome.current.append(uid)
                    continue
                try:
                    key = box.open(key_enc, key_context(uid))
                    headers = headers_enc and box.open(headers_enc, headers_context(uid))
                except SecretBoxError:
                    outcome.unreadable.append(uid)
                    continue
                new_headers = None if headers is None else box.seal(headers, headers_context(uid))
                await db_upstreams.reseal(conn, uid, box.seal(key, key_context(uid)), new_headers)
                outcome.moved.append(uid)
            if outcome.moved:
                await db_upstreams.notify_upstreams(conn)
    finally:
        await conn.close()
    return outcome
