"""The task bodies of `analytics_monthly_archival`, one function per task."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from analytics_ops.core import tasks
from analytics_ops.core.config import load_config


def resolve_cutoff() -> str:
    # The day before which rows move; refuses a bad `older_than` before anything is touched.
    from analytics_ops.archival.archive import resolve_cutoff as resolve
    from analytics_ops.core.params import refused

    run_day = tasks.run_date().astimezone(UTC).date()
    with refused("archived"):
        cutoff = resolve(tasks.params().get("older_than"), run_day, load_config().archival, datetime.now(UTC).date())
    print(f"archiving daily_analytics rows dated before {cutoff}")
    return cutoff.isoformat()


def archive_rows(cutoff: str) -> dict[str, Any]:
    from analytics_ops.archival.archive import archive

    settings = load_config().archival
    dry_run = bool(tasks.params().get("dry_run"))

    def open_connection() -> Any:
        return tasks.task_session(statement_timeout=settings.batch_statement_timeout)

    with open_connection() as conn:
        report = archive(conn, date.fromisoformat(cutoff), settings, dry_run=dry_run, open_connection=open_connection)
    print(report.summary())
    tasks.record("daily_analytics", report.as_dict())
    return report.as_dict()


def vacuum_source() -> dict[str, Any]:
    from analytics_ops.maintenance.tasks import maintenance_session
    from analytics_ops.maintenance.vacuum_reindex import vacuum_table

    with maintenance_session() as conn:
        result = vacuum_table(conn, "public.daily_analytics")
    print(result)
    return result


def capture_statements() -> int:
    from analytics_ops.archival.archive import capture_and_reset_statements

    with tasks.task_session() as conn:
        captured = capture_and_reset_statements(conn, load_config().archival.top_statements)
    print(f"kept {captured} statements in ops.pg_stat_statements_history, then reset pg_stat_statements")
    return captured


def size_report() -> dict[str, Any]:
    from analytics_ops.maintenance.tasks import maintenance_session
    from analytics_ops.maintenance.vacuum_reindex import as_dicts, index_bloat, table_health

    settings = load_config().maintenance
    with maintenance_session(autocommit=False) as conn:
        tables = sorted(as_dicts(table_health(conn, settings.schemas)), key=lambda t: -t["total_bytes"])
        indexes = as_dicts(index_bloat(conn, settings))
    for row in tables[:20]:
        print(row)
    for row in indexes[:20]:
        print(row)
    report = {"tables": tables, "indexes": indexes}
    tasks.record("table sizes and index bloat", report)
    return report
