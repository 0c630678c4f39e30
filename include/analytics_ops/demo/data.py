"""Deterministic demo data for the analytics schema, generated server-side.

The same (seed, users, days, tasks_per_day, last_day) always gives the same rows. A dataset that is
already loaded with the same parameters is left alone, so `make demo` twice costs nothing the
second time.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from analytics_ops.core.db import SQL_DIR, sql_file

DEMO_TABLES = (
    "tasks",
    "users",
    "daily_analytics",
    "daily_analytics_archive",
    "processing_jobs",
    "email_send_history",
    "txn_hourly_agg",
    "wallet_transactions",
    "analytics_alerts",
    "analytics_alert_rules",
    "analytics_events_stage",
    "usage_events",
    "usage_rollup_hourly",
    "usage_rollup_series",
    "usage_rollup_watermark",
    "analytics_events_rollup",
)
MATERIALIZED_VIEWS = (
    "user_task_stats",
    "user_priority_distribution",
    "user_status_distribution",
    "user_monthly_trends",
    "mv_txn_daily_agg",
)


@dataclass(frozen=True)
class DemoScale:
    users: int = 1_000
    days: int = 800  # more than two years, so archival has work
    tasks_per_day: int = 300
    seed: int = 42
    last_day: date | None = None  # default: yesterday (UTC)

    def resolved(self) -> DemoScale:
        if self.last_day is not None:
            return self
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        return DemoScale(self.users, self.days, self.tasks_per_day, self.seed, yesterday)

    def params(self) -> dict[str, Any]:
        assert self.last_day is not None
        first_day = self.last_day - timedelta(days=self.days - 1)
        return {
            "users": self.users,
            "days": self.days,
            "tasks_per_day": self.tasks_per_day,
            "seed": self.seed,
            "last_day": self.last_day.isoformat(),
            "first_day": first_day.isoformat(),
        }


@dataclass(frozen=True)
class DemoLoadResult:
    scale: DemoScale
    loaded: bool
    tasks: int
    seconds: float


# Bump when what load_demo_data produces changes other than through its SQL files.
DEMO_FORMAT = 2


def _fingerprint(scale: DemoScale) -> str:
    # The generator's SQL is part of what defines the dataset: an edited generator reloads.
    generator = hashlib.sha256()
    for path in sorted((SQL_DIR / "demo").glob("*.sql")):
        generator.update(path.read_bytes())
    fields = {k: str(v) for k, v in asdict(scale).items()}
    return json.dumps({**fields, "sql": generator.hexdigest(), "format": DEMO_FORMAT}, sort_keys=True)


def load_demo_data(conn: Any, scale: DemoScale = DemoScale(), *, force: bool = False) -> DemoLoadResult:
    """Replace the demo tables' contents with the dataset `scale` describes (tasks and users in one
    transaction; then the history aggregated into daily_analytics chunk by chunk)."""
    from psycopg import ClientCursor, sql

    scale = scale.resolved()
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS ops.demo_dataset (fingerprint text NOT NULL)")
        cur.execute("SELECT fingerprint FROM ops.demo_dataset")
        row = cur.fetchone()
        if row and row[0] == _fingerprint(scale) and not force:
            cur.execute("SELECT count(*) FROM tasks")
            return DemoLoadResult(scale, False, cur.fetchone()[0], time.perf_counter() - started)
        cur.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in DEMO_TABLES)
            )
        )
        params = scale.params()
        cur.execute(sql_file("demo/generate_users"), params)
        cur.execute(sql_file("demo/generate_tasks"), params)
        tasks = cur.rowcount
        # Identity columns were given explicit ids; move the sequence past them.
        cur.execute("SELECT setval(pg_get_serial_sequence('tasks', 'id'), greatest(1, (SELECT max(id) FROM tasks)))")
    # Several statements with parameters: a client-side-binding cursor sends them in one round trip.
    with ClientCursor(conn) as cur:
        cur.execute(sql_file("demo/generate_platform"), params)
        cur.execute(sql_file("demo/generate_usage"), params)
    # Aggregate the whole history, so the DAGs that read daily_analytics (and the archival, which
    # needs rows over two years old) have work from the start.
    from analytics_ops.aggregation.daily import DayRange, aggregate_days, split_into_chunks
    from analytics_ops.core.config import load_config

    first_day = date.fromisoformat(params["first_day"])
    for chunk in split_into_chunks(DayRange(first_day, scale.last_day), 92):
        aggregate_days(conn, chunk, load_config().aggregation)
    with conn.cursor() as cur:
        for view in MATERIALIZED_VIEWS:
            cur.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier(view)))
        cur.execute("DELETE FROM ops.demo_dataset")
        cur.execute("INSERT INTO ops.demo_dataset VALUES (%s)", (_fingerprint(scale),))
        cur.execute("ANALYZE")
    conn.commit()
    return DemoLoadResult(scale, True, tasks, time.perf_counter() - started)
