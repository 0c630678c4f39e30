"""The daily checks of the data (yesterday's aggregates, freshness, backlog, stuck jobs) and of the
suite's own jobs (backups, view refreshes, archival, cache warming), from `ops.*` and the run log."""

from __future__ import annotations

from typing import Any

from analytics_ops.core.config import AgeLimits
from analytics_ops.health.framework import (
    CRITICAL,
    OK,
    WARN,
    CheckContext,
    CheckResult,
    grade_above,
    human_duration,
)
from analytics_ops.health.framework import (
    human_timedelta as _d,
)

# --- data -----------------------------------------------------------------------------------------


def daily_analytics_present(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        rows, _, _ = conn.execute(sql_file("health/daily_analytics_day"), {"day": ctx.yesterday}).fetchone()
    return [
        CheckResult(
            "daily_analytics_present",
            OK if rows else CRITICAL,
            f"{rows} rows for {ctx.yesterday}",
            "critical with no rows for yesterday",
            float(rows),
        )
    ]


def daily_analytics_anomalies(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        _, anomalies, users = conn.execute(sql_file("health/daily_analytics_day"), {"day": ctx.yesterday}).fetchone()
    return [
        CheckResult(
            "daily_analytics_anomalies",
            CRITICAL if anomalies else OK,
            f"{anomalies} rows of {ctx.yesterday} with completion_rate outside 0-100",
            "critical at 1",
            float(anomalies),
            f"users {', '.join(map(str, users))}{' ...' if anomalies > len(users) else ''}" if anomalies else "",
        )
    ]


def freshness_lag(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.data
    threshold = f"warn over {_d(settings.freshness_warn_after)}, critical over {_d(settings.freshness_critical_after)}"
    with ctx.primary() as conn:
        rows = conn.execute(sql_file("health/freshness")).fetchall()
    if not rows:
        return [CheckResult("freshness_lag", OK, "no usage events in freshness_status", threshold)]
    model, never, lag = rows[0]
    if never and lag > settings.freshness_critical_after.total_seconds():
        return [CheckResult("freshness_lag", CRITICAL, f"{model}: events but never rolled up", threshold, lag)]
    status = grade_above(
        lag, settings.freshness_warn_after.total_seconds(), settings.freshness_critical_after.total_seconds()
    )
    return [
        CheckResult("freshness_lag", status, f"{human_duration(lag)} ({model}, worst of {len(rows)})", threshold, lag)
    ]


def staging_backlog(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.data
    with ctx.primary() as conn:
        waiting, oldest = conn.execute(sql_file("health/staging_backlog")).fetchone()
    return [
        CheckResult(
            "staging_backlog",
            grade_above(waiting, settings.staging_backlog_warn_rows, settings.staging_backlog_critical_rows),
            f"{waiting} rows waiting",
            f"warn at {settings.staging_backlog_warn_rows}, critical at {settings.staging_backlog_critical_rows}",
            float(waiting),
            f"oldest waiting {human_duration(oldest)}" if waiting else "",
        )
    ]


def stuck_jobs(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    stuck_after = ctx.config.stuck_work.stuck_after
    critical_after = ctx.config.health_check.data.stuck_jobs_critical_after
    with ctx.primary() as conn:
        rows = conn.execute(sql_file("health/stuck_jobs"), {"stuck_after": stuck_after}).fetchall()
    oldest = max((r[2] for r in rows), default=0.0)
    status = OK if not rows else (CRITICAL if oldest >= critical_after.total_seconds() else WARN)
    value = f"{len(rows)} job(s) processing over {_d(stuck_after)}" + (
        f", oldest {human_duration(oldest)}" if rows else ""
    )
    detail = ", ".join(f"job {job_id} ({job_type})" for job_id, job_type, _ in rows[:5])
    return [
        CheckResult(
            "stuck_jobs",
            status,
            value,
            f"warn over {_d(stuck_after)}, critical over {_d(critical_after)}",
            float(len(rows)),
            detail,
        )
    ]


# --- the suite's own jobs --------------------------------------------------------------------------


def _age_result(
    name: str, age_seconds: float | None, limits: AgeLimits, what: str, never: str, never_status: str = CRITICAL
) -> CheckResult:
    threshold = f"warn over {_d(limits.warn_after)}, critical over {_d(limits.critical_after)}"
    if age_seconds is None:
        return CheckResult(name, never_status, never, threshold)
    status = OK
    if age_seconds > limits.critical_after.total_seconds():
        status = CRITICAL
    elif age_seconds > limits.warn_after.total_seconds():
        status = WARN
    return CheckResult(name, status, f"{what} {human_duration(age_seconds)} ago", threshold, round(age_seconds, 1))


def _last_success(conn: Any, task_id: str, dag_id: str | None) -> dict[str, float]:
    from analytics_ops.core.db import sql_file

    rows = conn.execute(sql_file("health/last_success"), {"task_id": task_id, "dag_id": dag_id}).fetchall()
    return {subject: age for subject, _, age in rows}


def newest_verified_backup(ctx: CheckContext) -> list[CheckResult]:
    """Age of the newest verified backup of each kind in ops.backups, each against its own limits
    (full: `suite.backup`; base, once one was taken: `suite.base_backup`). Before ops.backups exists (migration 007, the
    backup DAG, is not deployed yet) the check says so, at `suite.when_backups_not_set_up` (warn)."""
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.suite
    with ctx.primary() as conn:
        exists = conn.execute("SELECT to_regclass('ops.backups') IS NOT NULL").fetchone()[0]
        rows = conn.execute(sql_file("health/newest_verified_backup")).fetchall() if exists else []
        taken = {r[0] for r in conn.execute(sql_file("health/backup_kinds_taken"))} if exists else set()
    if not exists:
        threshold = f"suite.when_backups_not_set_up: {settings.when_backups_not_set_up}"
        return [
            CheckResult(
                "newest_verified_backup",
                settings.when_backups_not_set_up,
                "backups not set up",
                threshold,
                None,
                "ops.backups does not exist: no backup DAG has run against this database",
            )
        ]
    newest = {kind: (backup_id, age) for kind, backup_id, _, _, age in rows}
    results = []
    # Each kind against its own schedule: a weekly base backup never stands in for the daily dump.
    for kind, name, limits in (
        ("full", "newest_verified_backup", settings.backup),
        ("base", "newest_verified_backup:base", settings.base_backup),
    ):
        if kind == "base" and kind not in taken:
            continue  # the incremental backup DAG has never run here: nothing to judge
        if kind not in newest:
            results.append(
                _age_result(
                    name, None, limits, "", "no verified backup" if kind == "full" else "no verified base backup"
                )
            )
            continue
        backup_id, age = newest[kind]
        results.append(_age_result(name, age, limits, f"{kind} backup {backup_id} taken", ""))
    return results


def mv_refresh_age(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import split_name

    limits_by_group = ctx.config.health_check.suite.mv_refresh
    with ctx.primary() as conn:
        ages = _last_success(conn, "refresh_view", None)
        results = []
        for group, spec in ctx.config.mv_refresh.groups.items():
            if group not in limits_by_group:
                continue
            for view in spec.views:
                schema, name = split_name(view)
                populated = conn.execute(
                    "SELECT c.relispopulated FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'm'",
                    (schema, name),
                ).fetchone()
                check = f"mv_refresh:{schema}.{name}"
                if populated is None or not populated[0]:
                    state = "does not exist" if populated is None else "was never populated"
                    threshold = f"{group} group: must exist and be populated"
                    results.append(CheckResult(check, CRITICAL, f"view {state}", threshold))
                    continue
                results.append(
                    _age_result(
                        check,
                        ages.get(f"{schema}.{name}"),
                        limits_by_group[group],
                        "refreshed",
                        "never refreshed by the suite (no refresh_view in ops.run_log)",
                    )
                )
    return results


def last_archival(ctx: CheckContext) -> list[CheckResult]:
    with ctx.primary() as conn:
        ages = _last_success(conn, "archive_rows", "analytics_monthly_archival")
    age = min(ages.values(), default=None)
    limits = ctx.config.health_check.suite.archival
    # A new installation has nothing two years old to archive yet: never having run is a warning.
    never = "never ran (no archive_rows in ops.run_log)"
    return [_age_result("last_archival", age, limits, "ran", never, never_status=WARN)]


def last_cache_warm(ctx: CheckContext) -> list[CheckResult]:
    with ctx.primary() as conn:
        ages = _last_success(conn, "report", "analytics_cache_warming")
    age = min(ages.values(), default=None)
    limits = ctx.config.health_check.suite.cache_warm
    return [_age_result("last_cache_warm", age, limits, "warmed", "never warmed (no cache warming in ops.run_log)")]
