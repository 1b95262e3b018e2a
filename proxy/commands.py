"""The maintenance commands of `python -m proxy` (beside serve, migrate and rollback)."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg

from core.settings import Settings
from db import rollups as db_rollups
from proxy.infra.secretbox import SecretBox
from proxy.upstreams.reseal import reseal_all


def reencrypt(settings: Settings) -> int:
    """`upstreams reencrypt`: every stored upstream key sealed under the current KAIXU_SECRET."""
    assert settings.database_url and settings.secret
    box = SecretBox(settings.secret, settings.secret_previous)
    done = asyncio.run(reseal_all(settings.direct_database_url or "", box))
    unreadable = " ".join(done.unreadable)
    print(f"re-encrypted: {len(done.moved)}, already current: {len(done.current)},"
          f" unreadable: {len(done.unreadable)} {unreadable}".rstrip())  # fmt: skip
    return 1 if done.unreadable else 0


def parse_month(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise SystemExit(f"--month must be YYYY-MM, got {text!r}") from None


def rollups(settings: Settings, action: str, month_text: str | None) -> int:
    """`rollups check`: every group whose rollup is not the sum of its rows (exit 1 if any);
    `rollups rebuild`: derive them again from the rows (settlements wait until it is done)."""
    assert settings.database_url
    month = parse_month(month_text)

    async def run() -> int:
        conn = await asyncpg.connect(settings.direct_database_url)
        try:
            if action == "rebuild":
                groups = await db_rollups.rebuild(conn, month)
                print(f"rebuilt {groups} rollup groups from the usage rows")
                return 0
            found = await db_rollups.differences(conn, month)
            for row in found:
                group = "/".join(str(row[c]) for c in db_rollups.GROUP)
                changed = ", ".join(
                    f"{c} {row[f'rollup_{c}']} != {row[f'rows_{c}']}"
                    for c in db_rollups.COUNTS
                    if row[f"rollup_{c}"] != row[f"rows_{c}"]
                )
                print(f"{group}: {changed}")
            print(f"{len(found)} differences" + (" (the first 100)" if len(found) == 100 else ""))
            return 1 if found else 0
        finally:
            await conn.close()

    return asyncio.run(run())
