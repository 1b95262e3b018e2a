"""The database runs exactly what db/sql/ says, whether it was migrated from scratch or from the
schema deployed before db/sql/ existed; and its admission outcomes are Python's."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from core.outcomes import AdmissionOutcome
from db.embedded import EmbeddedPostgres, create_database
from db.migrate import SQL_DIR, SQL_FILES, migrate, rollback
from tests.fixtures import restore

_CREATE = re.compile(r"CREATE OR REPLACE (FUNCTION|VIEW|TRIGGER)\s+(\w+)")
_BODY = re.compile(r"\bAS\s+\$(\w*)\$(.*?)\$\1\$", re.DOTALL)
_PARAMETER_MODES = {"IN", "OUT", "INOUT", "VARIADIC"}
# The deployed schema's admission batch (0010), and today's.
DEPLOYED_ADMIT_BATCH = "kaixu_admit_batch(text[], bigint[], integer, text[], text[], bigint)"
ADMIT_BATCH = (
    "kaixu_admit_batch(text[], bigint[], integer, text[], text[], bigint, text, text[], text[],"
    " text[], integer[], bigint[], bigint[], bigint[], integer[], bigint[])"
)


@dataclass(frozen=True)
class Declared:
    kind: str  # FUNCTION | VIEW | TRIGGER
    name: str
    signature: str | None  # functions: name(type, ...), the identity arguments
    body: str | None  # functions: the text between the dollar quotes, exactly


def statements(text: str) -> list[str]:
    """The statements of an SQL file, comments left out: split at semicolons outside quotes,
    dollar quotes and comments."""
    found, current, i = [], [], 0
    while i < len(text):
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        dollar = re.match(r"\$(\w*)\$", text[i:]) if text[i] == "$" else None
        if dollar or text[i] in "'\"":
            closing = dollar.group(0) if dollar else text[i]
            start = i + len(closing)
            end = text.index(closing, start) + len(closing)
            current.append(text[i:end])
            i = end
            continue
        if text[i] == ";":
            found.append("".join(current).strip())
            current = []
        else:
            current.append(text[i])
        i += 1
    assert not "".join(current).strip(), "a statement without its semicolon"
    return [s for s in found if s]


def _parameters(text: str, start: int) -> str:
    """The parenthesised parameter list that opens at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i]
    raise AssertionError("unbalanced parameter list")


def _identity_types(parameters: str) -> list[str]:
    """The types of the input parameters ('p_x text, OUT y bigint' -> ['text'])."""
    assert "(" not in parameters, "a type with a modifier: split the list properly first"
    types = []
    for parameter in filter(None, (p.strip() for p in parameters.split(","))):
        words = parameter.split()
        mode = words.pop(0).upper() if words[0].upper() in _PARAMETER_MODES else "IN"
        assert "DEFAULT" not in (w.upper() for w in words) and "=" not in words, parameter
        if mode != "OUT":
            types.append(" ".join(words[1:]))  # every parameter is named: drop the name
    return types


def declared() -> list[Declared]:
    found = []
    for name in SQL_FILES:
        for statement in statements((SQL_DIR / name).read_text(encoding="utf-8")):
            create = _CREATE.match(statement)
            assert create, f"{name}: only CREATE OR REPLACE belongs in db/sql: {statement[:60]}"
            kind, object_name = create.groups()
            signature = body = None
            if kind == "FUNCTION":
                parameters = _parameters(statement, statement.index("(", create.end()))
                signature = f"{object_name}({', '.join(_identity_types(parameters))})"
                body = _BODY.search(statement).group(2)
            found.append(Declared(kind, object_name, signature, body))
    return found


def installed_functions(conn: psycopg.Connection) -> dict[int, tuple[str, str]]:
    """oid -> (name, prosrc) of every function in schema public (none belongs to an extension)."""
    rows = conn.execute(
        "SELECT p.oid, p.proname, p.prosrc FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
    ).fetchall()
    return {oid: (name, source) for oid, name, source in rows}


# Everything a migration or db/sql/ can create, as text that is equal exactly when the objects
# are. Columns are ranked, not numbered: a restored dump renumbers around dropped columns.
CATALOG = {
    "tables": """
        SELECT c.relname, c.relkind, c.relpersistence FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
        ORDER BY 1""",
    "columns": """
        SELECT c.relname, rank() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attcollation
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
          AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 2""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
        ORDER BY 1, 2""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, min_value, max_value, increment_by,
               cycle FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1""",
    "types": """
        SELECT t.typname, t.typtype,
               array(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid
                     ORDER BY e.enumsortorder)
        FROM pg_type t
        WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
        ORDER BY 1""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid),
               pg_get_function_result(p.oid), l.lanname, p.provolatile, p.prosecdef,
               p.proconfig, p.prosrc
        FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
        WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1, 2""",
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1""",
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
        WHERE NOT tgisinternal ORDER BY 1, 2""",
    "migrations": "SELECT migration_id FROM _yoyo_migration ORDER BY 1",
    # Rows a migration loads (0003); updated_at is when that ran.
    "prices": """
        SELECT to_jsonb(p) - 'updated_at' FROM prices p ORDER BY provider, model""",
}


def catalog(dsn: str) -> dict[str, list[tuple]]:
    with psycopg.connect(dsn) as conn:
        return {name: conn.execute(query).fetchall() for name, query in CATALOG.items()}


@pytest.fixture
def new_database(postgres: EmbeddedPostgres) -> Iterator[Callable[[], str]]:
    """A factory of empty databases, all dropped at the end of the test."""
    names = []

    def make() -> str:
        names.append(f"kaixu_sql_{os.getpid()}_{os.urandom(4).hex()}")
        create_database(postgres.admin_dsn, names[-1])
        return postgres.dsn_for(names[-1])

    yield make
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def assert_installed_as_declared(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        installed = installed_functions(conn)
        functions = [d for d in declared() if d.kind == "FUNCTION"]
        resolved = {}
        for function in functions:
            oid = conn.execute("SELECT to_regprocedure(%s)::oid", (function.signature,)).fetchone()
            assert oid[0] is not None, f"{function.signature} is declared but not installed"
            resolved[oid[0]] = function
        views = {r[0] for r in conn.execute(CATALOG["views"]).fetchall()}
        triggers = {r[1] for r in conn.execute(CATALOG["triggers"]).fetchall()}
    assert len(resolved) == len(functions), "a function is declared twice"
    stale = sorted(installed[oid][0] for oid in installed.keys() - resolved.keys())
    assert not stale, f"installed, but in no file of db/sql: {stale}"
    for oid, function in resolved.items():
        assert installed[oid][1] == function.body, f"{function.signature} differs from db/sql"
    assert views == {d.name for d in declared() if d.kind == "VIEW"}
    assert triggers == {d.name for d in declared() if d.kind == "TRIGGER"}


def result_of(dsn: str, signature: str) -> str:
    with psycopg.connect(dsn) as conn:
        query = "SELECT pg_get_function_result(%s::regprocedure)"
        return conn.execute(query, (signature,)).fetchone()[0]


def test_every_file_in_db_sql_is_applied() -> None:
    assert sorted(SQL_FILES) == sorted(p.name for p in SQL_DIR.glob("*.sql"))


# Names with a second signature kept for the processes of the previous release during a
# rolling upgrade (db/sql/ledger.sql says which, and until when).
UPGRADE_SHIMS = {"kaixu_settle_batch"}


def test_the_files_declare_the_live_functions() -> None:
    names = [d.name for d in declared()]
    assert {"kaixu_admit_batch", "kaixu_settle_batch", "kaixu_gcra"} <= set(names)
    repeated = {n for n in names if names.count(n) > 1}
    assert repeated <= UPGRADE_SHIMS, f"one name, one definition: {repeated - UPGRADE_SHIMS}"
    assert all(names.count(n) == 2 for n in repeated)


def test_a_fresh_database_runs_exactly_db_sql(new_database) -> None:
    dsn = new_database()
    migrate(dsn)
    assert_installed_as_declared(dsn)


def test_every_migrate_reapplies_db_sql(new_database) -> None:
    dsn = new_database()
    migrate(dsn)
    with psycopg.connect(dsn) as conn:
        conn.execute("DROP FUNCTION kaixu_admit_batch")  # its only signature
        conn.execute(
            "CREATE OR REPLACE FUNCTION kaixu_gateway_shard(p_customer_id text) RETURNS smallint"
            " LANGUAGE sql IMMUTABLE AS $$ SELECT 0::smallint $$"
        )
    assert migrate(dsn) == []  # nothing pending, and still:
    assert_installed_as_declared(dsn)


def test_upgraded_from_the_deployed_schema_equals_fresh(new_database) -> None:
    fresh, upgraded = new_database(), new_database()
    migrate(fresh)
    restore(upgraded)
    assert result_of(upgraded, DEPLOYED_ADMIT_BATCH).startswith("TABLE(idx integer, outcome text,")

    applied = migrate(upgraded)  # 0011 onward: later migrations come after it
    assert applied[0] == "0011.live-sql" and applied == sorted(applied)
    assert_installed_as_declared(upgraded)
    expected = catalog(fresh)
    got = catalog(upgraded)
    for part in CATALOG:
        assert got[part] == expected[part], part


def test_rolled_back_and_migrated_again_equals_fresh(new_database) -> None:
    fresh, again = new_database(), new_database()
    migrate(fresh)
    applied = migrate(again)
    since_live_sql = applied[applied.index("0011.live-sql") :]
    assert rollback(again, len(since_live_sql)) == since_live_sql[::-1]
    assert migrate(again) == since_live_sql
    assert catalog(again) == catalog(fresh)


def test_admission_outcomes_are_the_python_enum(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        labels = conn.execute("SELECT enum_range(NULL::kaixu_admission_outcome)::text[]")
        assert labels.fetchone()[0] == [o.value for o in AdmissionOutcome]
    result = result_of(database_url, ADMIT_BATCH)
    assert result.startswith("TABLE(idx integer, outcome kaixu_admission_outcome,")
