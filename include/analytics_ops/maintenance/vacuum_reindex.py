"""Weekly VACUUM / REINDEX on a live primary (runbook 001 *Weekly Maintenance*, runbook 002).

Safe against a busy database:
- `VACUUM` and `REINDEX ... CONCURRENTLY` refuse to run in a transaction block: they run on an
  autocommit connection, one statement per execute;
- every session carries `lock_timeout` (config `database.lock_timeout`): a statement that would
  queue behind production traffic (and make production queue behind it) gives up instead, and the
  task retries later with backoff;
- never plain `REINDEX` on a live table: `REINDEX INDEX CONCURRENTLY` builds a new index beside the
  old one; if it fails it leaves an invalid `<index>_ccnew` (or `_ccold`) behind, which
  `sweep_invalid_leftovers` drops with `DROP INDEX CONCURRENTLY`.

Index bloat is estimated with pgstattuple's `pgstatindex()`: it reads the index and reports the
average leaf density; bloat = 100 - 100 * density / fillfactor (90 for b-trees unless set), the
share of leaf space a fresh build would not need. Exact, but it reads every page, so only indexes
of at least `maintenance.min_index_bytes` are measured.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from analytics_ops.core.config import MaintenanceSettings


class MaintenancePrivilegeMissing(Exception):
    """The suite's role may not VACUUM or REINDEX a relation it was asked to maintain."""


def require_maintain(conn: Any, relation: str, what: str) -> None:
    """Raise, naming the grant that is missing, unless the session may `what` (VACUUM, REINDEX) `relation`.

    Asked before the statement because VACUUM without the right only warns and skips the table,
    which would leave a green task that did nothing.
    """
    from analytics_ops.core.db import sql_file

    row = conn.execute(sql_file("maintenance/may_maintain"), {"relation": relation}).fetchone()
    if row is None or row[1]:
        return  # gone since it was planned: the statement itself says so
    role = conn.execute("SELECT current_user").fetchone()[0]
    raise MaintenancePrivilegeMissing(
        f"{role} may not {what} {relation}, owned by {row[0]}: on PostgreSQL 17 and later grant it pg_maintain "
        f"(or MAINTAIN on the table); before 17 make it a member of {row[0]} "
        f"(ANALYTICS_MAINTAINED_OWNERS={row[0]} in deploy/bootstrap.sh). See docs/roles.md."
    )


@dataclass(frozen=True)
class TableHealth:
    schemaname: str
    relname: str
    n_live_tup: int
    n_dead_tup: int
    dead_pct: float
    total_bytes: int
    index_bytes: int


@dataclass(frozen=True)
class IndexBloat:
    schemaname: str
    indexname: str
    tablename: str
    index_bytes: int
    avg_leaf_density: float
    bloat_pct: float


def table_health(conn: Any, schemas: list[str]) -> list[TableHealth]:
    from analytics_ops.core.db import sql_file

    return [TableHealth(*row) for row in conn.execute(sql_file("maintenance/table_health"), {"schemas": schemas})]


def index_bloat(conn: Any, settings: MaintenanceSettings) -> list[IndexBloat]:
    from analytics_ops.core.db import sql_file

    params = {"schemas": settings.schemas, "min_index_bytes": settings.min_index_bytes}
    return [IndexBloat(*row) for row in conn.execute(sql_file("maintenance/index_bloat"), params)]


def _qualified(name: str, default_schema: str = "public") -> tuple[str, str]:
    schema, _, rel = name.rpartition(".")
    return schema or default_schema, rel


def tables_to_vacuum(conn: Any, settings: MaintenanceSettings) -> list[str]:
    """The configured tables, and any over the dead-tuple thresholds."""
    wanted = {_qualified(t) for t in settings.vacuum_tables}
    return sorted(
        f"{h.schemaname}.{h.relname}"
        for h in table_health(conn, settings.schemas)
        if (h.schemaname, h.relname) in wanted
        or (h.dead_pct >= settings.dead_tuple_pct and h.n_dead_tup >= settings.min_dead_tuples)
    )


def indexes_to_rebuild(conn: Any, settings: MaintenanceSettings) -> list[str]:
    """Indexes whose estimated bloat is at least `reindex_bloat_pct`."""
    return sorted(
        f"{b.schemaname}.{b.indexname}"
        for b in index_bloat(conn, settings)
        if b.bloat_pct >= settings.reindex_bloat_pct
    )


def _ident(name: str) -> Any:
    from psycopg import sql

    return sql.Identifier(*_qualified(name))


def _health_of(conn: Any, table: str) -> TableHealth | None:
    schema, rel = _qualified(table)
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return next((h for h in table_health(conn, [schema]) if h.relname == rel), None)


def vacuum_table(conn: Any, table: str) -> dict[str, Any]:
    """VACUUM (ANALYZE) one table on an autocommit connection; dead tuples and size before/after."""
    from psycopg import sql

    require_maintain(conn, table, "VACUUM")
    before = _health_of(conn, table)
    started = time.perf_counter()
    conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(_ident(table)))
    seconds = time.perf_counter() - started
    after = _health_of(conn, table)
    return {
        "table": table,
        "dead_tuples_before": before.n_dead_tup if before else None,
        "dead_tuples_after": after.n_dead_tup if after else None,
        "bytes_before": before.total_bytes if before else None,
        "bytes_after": after.total_bytes if after else None,
        "seconds": round(seconds, 3),
    }


def _index_bytes(conn: Any, index: str) -> int:
    schema, rel = _qualified(index)
    return conn.execute(
        "SELECT pg_relation_size(c.oid) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (schema, rel),
    ).fetchone()[0]


def reindex_index(conn: Any, index: str) -> dict[str, Any]:
    """REINDEX INDEX CONCURRENTLY on an autocommit connection; size before/after."""
    from psycopg import sql

    require_maintain(conn, index, "REINDEX")
    before = _index_bytes(conn, index)
    started = time.perf_counter()
    conn.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(_ident(index)))
    return {
        "index": index,
        "bytes_before": before,
        "bytes_after": _index_bytes(conn, index),
        "seconds": round(time.perf_counter() - started, 3),
    }


def sweep_invalid_leftovers(conn: Any) -> list[str]:
    """Drop the invalid `_ccnew`/`_ccold` indexes failed concurrent reindexes left (autocommit conn)."""
    from psycopg import sql

    from analytics_ops.core.db import sql_file

    dropped = []
    for schema, index in conn.execute(sql_file("maintenance/invalid_leftovers")).fetchall():
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, index)))
        dropped.append(f"{schema}.{index}")
    return dropped


def deadlocks(conn: Any) -> int:
    return conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def previous_deadlocks(conn: Any, dag_id: str) -> int | None:
    row = conn.execute(
        "SELECT (details->>'deadlocks')::bigint FROM ops.run_log WHERE dag_id = %s AND task_id = 'report' "
        "AND details ? 'deadlocks' ORDER BY finished_at DESC LIMIT 1",
        (dag_id,),
    ).fetchone()
    return row[0] if row else None


def as_dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [asdict(item) for item in items]
