"""`python -m proxy prices import FILE` and `prices export`: the price table from and to files.

An import shows what it would add and change (and what it leaves unchanged or skips), then
applies it only when confirmed: at the prompt, or with `--yes` (scripts). Every change is in
the audit log (actor `cli`) and reaches every running gateway process within a second.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core import price_import
from core.price_import import Diff, ImportProblem, describe
from core.settings import Settings
from db import audit as db_audit
from db import prices as db_prices
from db.pool import connect


def _print_plan(plan: Diff, parsed: price_import.Parsed) -> None:
    for price in plan.added:
        print(f"+ {price.provider}/{price.model}: {', '.join(describe(price))}")
    for change in plan.changed:
        before, after = change.before.prices(), change.after.prices()
        moved = [f"{name} {price_import.usd(before[name]) or '-'} -> "
                 f"{price_import.usd(after[name]) or '-'}"
                 for name in before if before[name] != after[name]]  # fmt: skip
        if change.before.long_context_threshold != change.after.long_context_threshold:
            moved.append(f"long_context_threshold {change.before.long_context_threshold} ->"
                         f" {change.after.long_context_threshold}")  # fmt: skip
        print(f"~ {change.after.provider}/{change.after.model}: {', '.join(moved)}")
    for warning in parsed.warnings:
        print(f"warning: {warning}")
    print(f"{len(plan.added)} added, {len(plan.changed)} changed, {len(plan.unchanged)}"
          f" unchanged, {parsed.skipped} skipped (other providers or kinds of model)")  # fmt: skip


def _confirmed(assume_yes: bool) -> bool:
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        print("not applied: run it again with --yes to apply (no terminal to ask)")
        return False
    return input("Apply these changes? [y/N] ").strip().lower() in ("y", "yes")


def import_file(settings: Settings, path: Path, fmt: str | None, assume_yes: bool) -> int:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        conn = await connect(settings.direct_database_url or "")
        try:
            providers = await db_prices.known_providers(conn)
            try:
                parsed = price_import.parse(text, providers, fmt)
            except ImportProblem as exc:
                print(f"{path}: {exc}; nothing imported", file=sys.stderr)
                return 1
            current = [db_prices.price_from_row(r) for r in await db_prices.fetch_prices(conn)]
            plan = price_import.diff(current, parsed.prices)
            _print_plan(plan, parsed)
            if not plan.to_apply:
                print("nothing to apply")
                return 0
            if not await asyncio.to_thread(_confirmed, assume_yes):
                return 0
            async with conn.transaction():
                await db_prices.lock_prices(conn)
                # Applied as shown: had the table changed meanwhile, the diff would differ.
                now = [db_prices.price_from_row(r) for r in await db_prices.fetch_prices(conn)]
                if price_import.diff(now, parsed.prices).to_apply != plan.to_apply:
                    print("the price table changed meanwhile; nothing applied: run it again")
                    return 1
                await db_prices.upsert_prices(conn, plan.to_apply)
                added = [f"{p.provider}/{p.model}" for p in plan.added]
                changed = [f"{c.after.provider}/{c.after.model}" for c in plan.changed]
                await db_audit.insert_audit(
                    conn, actor="cli", address=None, action="pricing.import", customer_id=None,
                    target="prices", before=None,
                    after={"file": path.name, "added": added, "changed": changed},
                )  # fmt: skip
            print(f"applied: {len(plan.added)} added, {len(plan.changed)} changed")
            return 0
        finally:
            await conn.close()

    return asyncio.run(run())


def export_file(settings: Settings, path: Path | None) -> int:
    async def run() -> str:
        conn = await connect(settings.direct_database_url or "")
        try:
            rows = await db_prices.fetch_prices(conn)
        finally:
            await conn.close()
        return price_import.to_csv([db_prices.price_from_row(r) for r in rows])

    text = asyncio.run(run())
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text)
    return 0
