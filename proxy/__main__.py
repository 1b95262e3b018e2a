"""Entry point: `python -m proxy [serve|migrate|rollback|upstreams|rollups|usage|prices]`;
the only reader of the environment."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from core.settings import Settings, SettingsError, load_settings
from proxy.infra.log import configure_logging
from proxy.server import serve

log = logging.getLogger("kaixu.main")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Yield settings with a DATABASE_URL: the configured one, or an embedded server's."""
    if settings.database_url:
        yield settings
        return
    from db.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(settings.data_dir / "pg")
    try:
        yield dataclasses.replace(settings, database_url=server.dsn)
    finally:
        server.stop()


def banner(settings: Settings, password_from_file: bool) -> str:
    lines = [
        f"Kaixu Gateway is serving on {settings.admin_url.removesuffix('/admin/')}",
        f"  Admin UI:       {settings.admin_url}",
    ]
    if password_from_file:
        where = settings.data_dir / "admin-password"
        lines.append(f"  Admin password: {settings.admin_password}   (kept in {where})")
    else:
        lines.append("  Admin password: the ADMIN_PASSWORD you set")
    if not settings.database_url or "host=" in settings.database_url:
        lines.append(f"  Database:       embedded PostgreSQL in {settings.data_dir / 'pg'}")
    lines.append("  Press Ctrl-C to stop.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proxy", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="migrate, then serve the gateway (the default)")
    commands.add_parser("migrate", help="apply pending migrations and exit")
    rollback_parser = commands.add_parser("rollback", help="roll back migrations and exit")
    rollback_parser.add_argument("--steps", type=int, default=1, help="how many (0: all)")
    upstreams_parser = commands.add_parser("upstreams", help="stored upstream keys")
    upstreams_parser.add_argument(
        "action", choices=["reencrypt"], help="seal every key again under the current KAIXU_SECRET"
    )
    rollups_parser = commands.add_parser("rollups", help="usage rollups against the usage rows")
    rollups_parser.add_argument(
        "action", choices=["check", "rebuild"], help="list differences / derive again from rows"
    )
    rollups_parser.add_argument("--month", help="YYYY-MM (default: every month)")
    usage_parser = commands.add_parser("usage", help="the usage table's monthly partitions")
    usage_parser.add_argument(
        "action", choices=["partitions", "retire"], help="list them / archive and drop old ones"
    )
    usage_parser.add_argument(
        "--keep-months",
        type=int,
        help="months kept before this one (default: USAGE_RETENTION_MONTHS)",
    )
    prices_parser = commands.add_parser("prices", help="the price table from and to files")
    prices_parser.add_argument(
        "action", choices=["import", "export"], help="preview and apply a file / write the table"
    )
    prices_parser.add_argument(
        "file", nargs="?", type=Path, help="import: our CSV or LiteLLM's JSON; export: CSV"
    )
    prices_parser.add_argument("--format", choices=["csv", "litellm"], help="default: detected")
    prices_parser.add_argument("--yes", action="store_true", help="apply without asking")
    args = parser.parse_args(argv)
    if args.command == "prices" and args.action == "import" and args.file is None:
        parser.error("prices import needs a FILE")

    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)

    from db.migrate import migrate, rollback, wait_for_database
    from proxy import commands as tools
    from proxy.local_secrets import with_local_secrets

    with database(settings) as settings:
        assert settings.database_url
        if args.command == "rollback":
            undone = rollback(settings.direct_database_url or "", args.steps or None)
            print("rolled back: " + (", ".join(undone) or "nothing"))
            return 0
        # Migrations hold a session advisory lock: never through a transaction pooler.
        wait_for_database(settings.direct_database_url or "")
        applied = migrate(settings.direct_database_url or "")
        if args.command == "migrate":
            print("applied: " + (", ".join(applied) or "nothing, the schema is up to date"))
            return 0
        settings, password_from_file = with_local_secrets(settings)
        if args.command == "upstreams":
            return tools.reencrypt(settings)
        if args.command == "rollups":
            return tools.rollups(settings, args.action, args.month)
        if args.command == "usage":
            return tools.usage(settings, args.action, args.keep_months)
        if args.command == "prices":
            from proxy import price_commands

            if args.action == "export":
                return price_commands.export_file(settings, args.file)
            return price_commands.import_file(settings, args.file, args.format, args.yes)
        serve(settings, banner(settings, password_from_file))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
