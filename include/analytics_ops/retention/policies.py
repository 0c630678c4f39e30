"""Retention cleanup (runbook 002 *Database Operations*, runbook 004 *Monthly Tasks*).

Each policy in `retention.policies` names a table, its integer key column, a timestamp column and an age;
rows older than that (and matching `only_when`, if given) are deleted in keyset batches of
`retention.batch_rows` along the key, each batch one short transaction. With `archive_table`, the
batch moves instead (`WITH moved AS (DELETE ... RETURNING *) INSERT INTO archive ...`). Table and
column names come from config and are quoted with psycopg.sql (a `schema.name` table part by part,
as `"ops"."alerts"`); values are bound parameters.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from analytics_ops.core.config import RetentionPolicy


def _relation(name: str) -> Any:
    """A table named in config, `schema.name` or a bare `name` (left to the search path), quoted."""
    from psycopg import sql

    schema, _, table = name.rpartition(".")
    return sql.Identifier(schema, table) if schema else sql.Identifier(table)


def _batch_statement(policy: RetentionPolicy) -> Any:
    from psycopg import sql

    table = _relation(policy.table)
    key, ts = sql.Identifier(policy.key_column), sql.Identifier(policy.timestamp_column)
    condition = sql.SQL("{ts} < %(cutoff)s AND ({key} > %(after)s::bigint OR %(after)s::bigint IS NULL)").format(
        ts=ts, key=key
    )
    if policy.only_when:
        condition = sql.SQL("{} AND {} = %(equals)s").format(condition, sql.Identifier(policy.only_when.column))
    delete = sql.SQL(
        "WITH batch AS (SELECT {key} FROM {table} WHERE {condition} ORDER BY {key} LIMIT %(batch_rows)s FOR UPDATE), "
        "moved AS (DELETE FROM {table} AS t USING batch AS b WHERE t.{key} = b.{key} RETURNING t.*) "
    ).format(key=key, table=table, condition=condition)
    if policy.archive_table:
        archive = _relation(policy.archive_table)
        tail = sql.SQL(", kept AS (INSERT INTO {} SELECT * FROM moved RETURNING 1) ").format(archive)
        return (
            delete
            + tail
            + sql.SQL("SELECT (SELECT count(*) FROM moved), (SELECT max({key}) FROM moved)").format(key=key)
        )
    return delete + sql.SQL("SELECT count(*), max({key}) FROM moved").format(key=key)


def apply_policy(conn: Any, policy: RetentionPolicy, now: datetime, batch_rows: int) -> dict[str, Any]:
    """Delete (or move) what the policy says is too old; `conn` outside autocommit, one commit per batch."""
    statement = _batch_statement(policy)
    cutoff = now - policy.older_than
    params = {
        "cutoff": cutoff,
        "batch_rows": batch_rows,
        "equals": policy.only_when.equals if policy.only_when else None,
    }
    after: Any = None
    deleted = batches = 0
    longest = 0.0
    while True:
        started = time.perf_counter()
        count, last = conn.execute(statement, {**params, "after": after}).fetchone()
        conn.commit()
        if count == 0:
            break
        longest = max(longest, time.perf_counter() - started)
        deleted += count
        batches += 1
        after = last
    return {
        "table": policy.table,
        "cutoff": cutoff.isoformat(),
        "deleted": deleted,
        "archived_to": policy.archive_table,
        "batches": batches,
        "longest_batch_seconds": round(longest, 3),
    }
