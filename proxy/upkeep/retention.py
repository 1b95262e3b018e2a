"""Usage retention: whole monthly partitions past USAGE_RETENTION_MONTHS are archived and dropped.

A partition goes only when every month in it is closed and invoiced: each customer with usage
that month has an invoice made after the month ended. Its rows are first written, month by
month, to `usage-YYYY-MM.csv` in the archive directory (the admin export's columns; streamed
from a cursor, so memory holds one batch), counted and fsynced; then, in one transaction, the
partition's rows are counted again under a lock that holds writers back, and it is detached and
dropped only if nothing changed since. The rollups and invoices stay: the usage panel, invoices
and the books still add up; `usage_retired_months` says where each month's rows went.

One process at a time (a session advisory lock on a direct connection); never by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import os
from pathlib import Path

import asyncpg

from db import exports as db_exports
from db import retention as db_retention
from proxy.http.csv_stream import encode
from proxy.http.usage_csv import USAGE_COLUMNS

log = logging.getLogger("kaixu.retention")

BATCH_ROWS = 5000
LOCK_TIMEOUT = "1s"
_RETENTION_LOCK_ID = 0x4B58524554  # "KXRET"


@dataclasses.dataclass(slots=True)
class Outcome:
    """What one run did and why it left partitions alone."""

    retired: list[str] = dataclasses.field(default_factory=list)  # partitions dropped
    archives: list[Path] = dataclasses.field(default_factory=list)
    waiting: dict[str, str] = dataclasses.field(default_factory=dict)  # partition -> reason
    busy: bool = False  # another process was at it


def first_kept_month(today: dt.date, keep_months: int) -> dt.date:
    """The current month and the `keep_months` before it are kept."""
    index = today.year * 12 + today.month - 1 - keep_months
    return dt.date(index // 12, index % 12 + 1, 1)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclasses.dataclass(frozen=True, slots=True)
class Archive:
    month: dt.date
    path: Path
    sha256: str
    sums: tuple[int, int, int]  # rows, cost (uc), input + output tokens


async def _archive_month(conn: asyncpg.Connection, month: dt.date, directory: Path) -> Archive:
    """The month's rows to `usage-YYYY-MM.csv`, written whole or not at all. The caller's
    REPEATABLE READ transaction makes the rows and the sums they are checked against one
    snapshot."""
    final = directory / f"usage-{month:%Y-%m}.csv"
    partial = final.with_suffix(".csv.partial")
    digest = hashlib.sha256()
    rows = cost = tokens = 0
    with partial.open("wb") as file:
        header = True
        async for batch in db_exports.usage_rows(conn, None, month, size=BATCH_ROWS):
            data = encode(USAGE_COLUMNS, batch, header=header)
            header = False
            rows += len(batch)
            cost += sum(row["cost_uc"] for row in batch)
            tokens += sum(row["input_tokens"] + row["output_tokens"] for row in batch)
            digest.update(data)
            await asyncio.to_thread(file.write, data)
        if header:  # no rows: the header alone
            data = encode(USAGE_COLUMNS, (), header=True)
            digest.update(data)
            file.write(data)
        file.flush()
        await asyncio.to_thread(os.fsync, file.fileno())
    sums = (rows, cost, tokens)
    if sums != await db_retention.month_sums(conn, month):
        partial.unlink()
        raise RuntimeError(f"the archive of {month:%Y-%m} does not add up to the month's rows")
    os.replace(partial, final)
    _fsync_dir(directory)
    return Archive(month, final, digest.hexdigest(), sums)


async def _retire_partition(
    conn: asyncpg.Connection, partition: asyncpg.Record, directory: Path, outcome: Outcome
) -> None:
    name = partition["name"]
    months = await db_retention.months_in(conn, partition["from_month"], partition["to_month"])
    for month in months:
        if missing := await db_retention.uninvoiced_customers(conn, month):
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            outcome.waiting[name] = f"{month:%Y-%m} not invoiced after month end for {shown}"
            return
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        archives = [await _archive_month(conn, month, directory) for month in months]
    archived = tuple(sum(a.sums[i] for a in archives) for i in range(3))
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # A late write to an old month (a settlement replayed from a journal) between the
        # archive and here keeps the partition for the next run.
        if await db_retention.lock_partition_sums(conn, name) != archived:
            outcome.waiting[name] = "rows changed while it was archived"
            return
        await db_retention.drop_partition(conn, name)
        for a in archives:
            await db_retention.record_retired(conn, a.month, name, a.sums[0], str(a.path), a.sha256)
    outcome.retired.append(name)
    outcome.archives.extend(a.path for a in archives)
    log.info("usage partition archived and dropped",
             extra={"partition": name, "months": [f"{m:%Y-%m}" for m in months]})  # fmt: skip


async def retire(
    dsn: str, keep_months: int, directory: Path, today: dt.date | None = None
) -> Outcome:
    """Archive and drop every partition wholly before the months kept, if invoiced."""
    today = today or dt.datetime.now(dt.UTC).date()
    outcome = Outcome()
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _RETENTION_LOCK_ID):
            outcome.busy = True
            return outcome
        first_kept = first_kept_month(today, keep_months)
        for partition in await db_retention.old_partitions(conn, first_kept):
            try:
                await _retire_partition(conn, partition, directory, outcome)
            except asyncpg.LockNotAvailableError:
                outcome.waiting[partition["name"]] = "busy; tried again on the next run"
        return outcome
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
