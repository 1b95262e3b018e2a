"""`python -m proxy upstreams reencrypt`: every stored upstream key (and its headers) sealed
again under the current KAIXU_SECRET, after a rotation (docs/upstreams.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from db import upstreams as db_upstreams
from proxy.infra.secretbox import SecretBox, SecretBoxError


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
            for row in await db_upstreams.list_upstreams(conn):
                uid, context = row["id"], row["id"].encode()
                sealed = [row["key_enc"], row["headers_enc"]]
                if all(v is None or box.is_current(v) for v in sealed):
                    outcome.current.append(uid)
                    continue
                try:
                    key, headers = (None if v is None else box.open(v, context) for v in sealed)
                except SecretBoxError:
                    outcome.unreadable.append(uid)
                    continue
                assert key is not None
                new_headers = None if headers is None else box.seal(headers, context)
                await db_upstreams.reseal(conn, uid, box.seal(key, context), new_headers)
                outcome.moved.append(uid)
            if outcome.moved:
                await db_upstreams.notify_upstreams(conn)
    finally:
        await conn.close()
    return outcome
