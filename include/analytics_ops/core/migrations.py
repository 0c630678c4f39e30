"""Apply sql/migrations/*.sql in name order, each once, each in its own transaction (or, for concurrent index
builds, outside one: `OUTSIDE_TRANSACTION`).

Hand-written because the migrations are plain SQL files: Alembic (already installed with Airflow)
wants Python revision scripts and an env.py, which would wrap each file in boilerplate. The files are
idempotent themselves; the ledger records what was applied, with a checksum so an edited file that
was already applied is reported instead of silently skipped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics_ops.core.db import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"

_LEDGER = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.schema_migrations (
    name text PRIMARY KEY,
    sha256 text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class MigrationResult:
    applied: list[str]
    already_applied: list[str]
    changed_since_applied: list[str]


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(directory.glob("*.sql"))


# Created by the superuser bootstrap (sql/bootstrap/database.sql): neither is `trusted`, so the
# suite's role may not create them. Migration 006's `CREATE EXTENSION IF NOT EXISTS` is then a no-op.
REQUIRED_EXTENSIONS = ("pg_stat_statements", "pgstattuple")


class BootstrapMissing(RuntimeError):
    """The database lacks what only the superuser bootstrap can give it."""


def check_bootstrap(conn: Any) -> None:
    """Raise, saying what to run, when the database was not bootstrapped (docs/roles.md)."""
    present = {
        r[0]
        for r in conn.execute("SELECT extname FROM pg_extension WHERE extname = ANY(%s)", (list(REQUIRED_EXTENSIONS),))
    }
    conn.rollback()
    missing = [name for name in REQUIRED_EXTENSIONS if name not in present]
    if missing:
        raise BootstrapMissing(
            f"extension(s) {', '.join(missing)} missing in database {conn.info.dbname}: only a superuser may create "
            "them. Run deploy/bootstrap.sh as the superuser (ANALYTICS_DB=" + conn.info.dbname + "), see docs/roles.md"
        )


# A migration whose first line is this runs outside a transaction, one statement at a time: for
# `CREATE INDEX CONCURRENTLY` (and `DROP INDEX CONCURRENTLY`), which build an index on a busy table
# without blocking its writes, and which PostgreSQL refuses inside a transaction block. Such a file
# holds only statements that are safe to run again (IF NOT EXISTS / IF EXISTS), each ending with `;`
# at the end of a line.
OUTSIDE_TRANSACTION = "-- migration: outside a transaction"
_CONCURRENT_INDEX = re.compile(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.I)
_INVALID_INDEX = """
SELECT n.nspname, c.relname
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relname = %(name)s AND n.nspname = current_schema() AND NOT i.indisvalid
"""


def statements(text: str) -> list[str]:
    """The statements of an outside-a-transaction migration: split at `;` ending a line, comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    parts = re.split(r";[ \t]*(?:\n|$)", "\n".join(lines))
    return [part.strip() for part in parts if part.strip()]


# A concurrent index build blocks no write, so it may take long on a big table: its cap is this, not
# the session's statement_timeout (lock_timeout still applies to the brief locks it takes).
CONCURRENT_BUILD_TIMEOUT = "2h"


def _apply_outside_transaction(conn: Any, text: str) -> None:
    """Each statement in autocommit, serialized with other appliers by the session-level advisory lock. An index
    a killed `CREATE INDEX CONCURRENTLY` left behind is invalid (used by no query, still maintained on every write):
    it is dropped and built again, where IF NOT EXISTS would keep it."""
    from psycopg import sql

    conn.commit()
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(4200)")
    try:
        session_timeout = conn.execute("SHOW statement_timeout").fetchone()[0]
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (CONCURRENT_BUILD_TIMEOUT,))
        for statement in statements(text):
            index = _CONCURRENT_INDEX.search(statement)
            if index:
                invalid = conn.execute(_INVALID_INDEX, {"name": index[1]}).fetchone()
                if invalid:
                    conn.execute(
                        sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}.{}").format(*map(sql.Identifier, invalid))
                    )
            conn.execute(statement)
    finally:
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (session_timeout,))
        conn.execute("SELECT pg_advisory_unlock(4200)")
        conn.autocommit = False


def apply_migrations(conn: Any, directory: Path = MIGRATIONS_DIR) -> MigrationResult:
    """Apply what is new. `conn` is a psycopg connection outside autocommit."""
    check_bootstrap(conn)
    with conn.cursor() as cur:
        # Serialize concurrent appliers (two `make test` runs, or a scheduler and a CLI).
        cur.execute("SELECT pg_advisory_xact_lock(4200)")
        cur.execute(_LEDGER)
        cur.execute("SELECT name, sha256 FROM ops.schema_migrations")
        done = dict(cur.fetchall())
    conn.commit()
    applied, already, changed = [], [], []
    for path in migration_files(directory):
        text = path.read_text(encoding="utf-8")
        digest = hashlib.sha256(text.encode()).hexdigest()
        if path.name in done:
            (already if done[path.name] == digest else changed).append(path.name)
            continue
        if text.startswith(OUTSIDE_TRANSACTION):
            _apply_outside_transaction(conn, text)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(4200)")
            if not text.startswith(OUTSIDE_TRANSACTION):
                cur.execute(text)
            cur.execute(
                "INSERT INTO ops.schema_migrations (name, sha256) VALUES (%(name)s, %(sha)s) "
                "ON CONFLICT (name) DO NOTHING",
                {"name": path.name, "sha": digest},
            )
        conn.commit()
        applied.append(path.name)
    return MigrationResult(applied, already, changed)
