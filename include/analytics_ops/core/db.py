"""Connections to the analytics databases, always with lock and statement timeouts.

Every session the suite opens goes through this module: `connect` (sync, through the Airflow
connection's `PostgresHook`), `aconnect` (async, for the triggerer) and `connection_kwargs` (psycopg's
keywords from a connection's fields, for the backups' `PgTarget`). All three take their startup
options from one builder, `suite_session_options`: the timeouts come from config
(`database.lock_timeout`, `database.statement_timeout`, which a caller may tighten) and are sent as
startup options, so they hold for every statement of the session, including those Postgres runs in
autocommit; `application_name` names the session after the task that opened it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics_ops.core.config import load_config
from analytics_ops.core.package_files import shipped_folder

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

SQL_DIR = shipped_folder("sql")


def _ms(value: timedelta) -> int:
    return max(0, int(value.total_seconds() * 1000))


def session_options(*, lock_timeout: timedelta, statement_timeout: timedelta, application_name: str) -> str:
    # application_name lets an operator find (and the suite spare) its own sessions in pg_stat_activity.
    safe_name = "".join(ch if ch.isalnum() or ch in "-_.:" else "_" for ch in application_name)[:63]
    return (
        f"-c lock_timeout={_ms(lock_timeout)} -c statement_timeout={_ms(statement_timeout)} "
        f"-c application_name={safe_name}"
    )


def suite_session_options(
    application_name: str = "analytics-ops",
    *,
    lock_timeout: timedelta | None = None,
    statement_timeout: timedelta | None = None,
) -> str:
    """The startup options of a suite session: `database:` timeouts unless the caller gives its own."""
    database = load_config().database
    return session_options(
        lock_timeout=lock_timeout or database.lock_timeout,
        statement_timeout=statement_timeout or database.statement_timeout,
        application_name=application_name,
    )


# libpq settings an Airflow connection's extras may carry, passed on as they are.
_LIBPQ_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout")


def connection_kwargs(
    *,
    host: str,
    port: int,
    user: str,
    password: str | None,
    dbname: str,
    extra: dict[str, Any] | None = None,
    application_name: str = "analytics-ops",
    lock_timeout: timedelta | None = None,
    statement_timeout: timedelta | None = None,
    connect_timeout: int | None = None,
) -> dict[str, Any]:
    """psycopg's connect keywords for a server (an Airflow connection's fields) and a suite session."""
    kwargs: dict[str, Any] = {k: v for k, v in (extra or {}).items() if k in _LIBPQ_EXTRAS}
    if connect_timeout is not None:
        kwargs.setdefault("connect_timeout", connect_timeout)
    return {
        "host": host,
        "port": port,
        "user": user,
        "password": password,
        "dbname": dbname,
        "options": suite_session_options(
            application_name, lock_timeout=lock_timeout, statement_timeout=statement_timeout
        ),
        **kwargs,
    }


@contextmanager
def connect(
    conn_id: str | None = None,
    *,
    autocommit: bool = False,
    lock_timeout: timedelta | None = None,
    statement_timeout: timedelta | None = None,
    application_name: str = "analytics-ops",
    connect_timeout: int | None = None,
) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg 3 connection through the Airflow connection `conn_id` (default: the primary).

    Outside autocommit, the block commits when it ends and rolls back on an exception.
    `connect_timeout` (seconds) applies unless the connection's extras set their own.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    config = load_config()
    options = suite_session_options(application_name, lock_timeout=lock_timeout, statement_timeout=statement_timeout)
    hook = PostgresHook(postgres_conn_id=conn_id or config.connections.primary, options=options)
    hook.enable_log_db_messages = False
    if connect_timeout is not None and "connect_timeout" not in hook.connection.extra_dejson:
        hook.connection.extra = json.dumps({**hook.connection.extra_dejson, "connect_timeout": connect_timeout})
    conn = hook.get_conn()
    conn.autocommit = autocommit
    try:
        yield conn
        if not autocommit:
            conn.commit()
    except BaseException:
        if not conn.closed and not autocommit:
            conn.rollback()
        raise
    finally:
        conn.close()


async def aconnect(
    conn_id: str,
    *,
    application_name: str = "analytics-ops",
    lock_timeout: timedelta | None = None,
    statement_timeout: timedelta | None = None,
    connect_timeout: int | None = None,
) -> psycopg.AsyncConnection[Any]:
    """An autocommit async psycopg connection through the Airflow connection `conn_id` (the triggerer's)."""
    import psycopg
    from airflow.sdk import BaseHook

    conn = await BaseHook.aget_connection(conn_id)
    kwargs = connection_kwargs(
        host=conn.host,
        port=conn.port,
        user=conn.login,
        password=conn.password,
        dbname=conn.schema,
        extra=conn.extra_dejson,
        application_name=application_name,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        connect_timeout=connect_timeout,
    )
    return await psycopg.AsyncConnection.connect(autocommit=True, **kwargs)


def split_name(qualified: str) -> tuple[str, str]:
    """("schema", "name") of "schema.name"; a bare name is in `public`."""
    schema, _, name = qualified.rpartition(".")
    return schema or "public", name


@lru_cache(maxsize=64)
def _read_sql(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def sql_file(name: str) -> sql.SQL:
    """The statement in sql/<name>.sql, as a psycopg SQL object (values stay bound parameters)."""
    from psycopg import sql

    return sql.SQL(_read_sql(SQL_DIR / f"{name}.sql"))
