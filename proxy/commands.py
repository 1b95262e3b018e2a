"""The maintenance commands of `python -m proxy` (beside serve, migrate and rollback)."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg

from core.settings import Settings
from db import retention as db_retention
from db import rollups as db_rollups
from proxy.infra.secretbox import SecretBox
from proxy.upkeep import retention
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


def usage(settings: Settings, action: str, keep_months: int | None) -> int:
    """`usage partitions`: the monthly partitions and the months retired so far;
    `usage retire`: archive and drop the partitions past the months kept, now."""
    assert settings.database_url
    dsn = settings.direct_database_url or ""
    if action == "retire":
        keep = keep_months if keep_months is not None else settings.usage_retention_months
        if keep is None:
            raise SystemExit("usage retire needs --keep-months N or USAGE_RETENTION_MONTHS")
        done = asyncio.run(retention.retire(dsn, keep, settings.archive_dir))
        if done.busy:
            print("another process is retiring usage right now; nothing done")
            return 1
        for name in done.retired:
            print(f"retired {name}")
        for path in done.archives:
            print(f"archived {path}")
        for name, why in done.waiting.items():
            print(f"kept {name}: {why}")
        print(f"{len(done.retired)} partitions retired, {len(done.waiting)} kept")
        return 0

    async def show() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            for row in await conn.fetch(
                "SELECT name, from_month, to_month FROM kaixu_usage_partitions ORDER BY to_month"
            ):
                first = f"{row['from_month']:%Y-%m}" if row["from_month"] else "…"
                print(f"{row['name']}: {first} to before {row['to_month']:%Y-%m}")
            for row in await db_retention.retired_months(conn):
                print(f"retired {row['month']:%Y-%m}: {row['rows']} rows in {row['archive']}"
                      f" (sha256 {row['sha256']})")  # fmt: skip
            return 0
        finally:
            await conn.close()

    return asyncio.run(show())
