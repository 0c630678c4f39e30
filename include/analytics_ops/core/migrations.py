"""Apply sql/migrations/*.sql in name order, each once, each in its own transaction.

Hand-written because the migrations are plain SQL files: Alembic (already installed with Airflow)
wants Python revision scripts and an env.py, which would wrap each file in boilerplate. The files are
idempotent themselves; the ledger records what was applied, with a checksum so an edited file that
was already applied is reported instead of silently skipped.
"""

from __future__ import annotations

import hashlib
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
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(4200)")
            cur.execute(text)
            cur.execute(
                "INSERT INTO ops.schema_migrations (name, sha256) VALUES (%(name)s, %(sha)s) "
                "ON CONFLICT (name) DO NOTHING",
                {"name": path.name, "sha": digest},
            )
        conn.commit()
        applied.append(path.name)
    return MigrationResult(applied, already, changed)
