"""The checks only the continuous evaluator runs, in the one check framework (`health.framework`).

- `dag_failing`: each suite DAG whose newest runs failed (`ops.dag_run_outcomes`, written by the
  failure callbacks), with the seconds since the streak's first failure: escalation by elapsed time,
  not by a count of runs (a daily DAG's "two failed runs" is two days).
- `alert_rule_failures`: evaluations of product rules that failed in the last hour (runbook 004:
  "alert rule failures over 10 an hour").
- `txn_drift`: rows of txn_hourly_agg the newest reconciliation found wrong and did not repair.
- `txn_anomalies`: each merchant the newest anomaly scan (analytics_txn_anomalies) judged anomalous.
- `txn_aggregation_lag`: seconds the oldest transaction not yet aggregated has waited (runbook 004).
- `usage_*` (module `checks_usage`): runbook 003's error-rate, latency and freshness thresholds.
- `staging_kind_backlog`, `staging_age`: rows staged per kind and how long each kind's oldest has waited
  (runbook 000's buffer size by kind).
- `ingest_merge`: seconds since the newest successful analytics_ingest_merge run while rows are staged.
- `ingest_merge_batches`: each kind's slowest batch in its newest merge run, with its throughput.
"""

from __future__ import annotations

from datetime import UTC

from analytics_ops.alerting.checks_usage import (
    usage_error_rate,
    usage_error_rate_rise,
    usage_freshness,
    usage_latency_p95,
    usage_latency_p99,
    usage_latency_rise,
)
from analytics_ops.health.framework import (
    CRITICAL,
    OK,
    WARN,
    Check,
    CheckContext,
    CheckResult,
    grade_above,
    human_duration,
)


def dag_failing(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        rows = conn.execute(sql_file("alerting/dag_failing"), {"now": ctx.checked_at}).fetchall()
    return [
        CheckResult(
            f"dag_failing:{dag_id}",
            CRITICAL,
            f"failing for {human_duration(seconds)} ({runs} failed run(s) in a row)",
            "no failed run since its last success",
            round(seconds, 1),
            f"first failure of the streak recorded {since.isoformat(timespec='seconds')}",
        )
        for dag_id, since, runs, seconds in rows
    ]


def alert_rule_failures(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        rows = conn.execute(sql_file("alerting/rule_failures"), {"now": ctx.checked_at}).fetchall()
    total = sum(failures for _, failures, _ in rows)
    detail = "; ".join(f"{name}: {failures}x, newest: {error}" for name, failures, error in rows[:5])
    return [
        CheckResult(
            "alert_rule_failures",
            CRITICAL if total > 10 else (WARN if total else OK),
            f"{total} failed evaluation(s) of {len(rows)} rule(s) in the last hour",
            "runbook 004: over 10 an hour",
            float(total),
            detail,
        )
    ]


def txn_drift(ctx: CheckContext) -> list[CheckResult]:
    """Rows of txn_hourly_agg the newest reconciliation (of the last 3 hours) found differing from
    wallet_transactions and did not repair (runbook 004 Incorrect Aggregate Values)."""
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        exists = conn.execute("SELECT to_regclass('ops.txn_reconciliations') IS NOT NULL").fetchone()[0]
        rows = conn.execute(sql_file("alerting/txn_drift"), {"now": ctx.checked_at, "max_age": "3 hours"}).fetchall()
    if not exists or not rows:
        return [CheckResult("txn_drift", OK, "no reconciliation in the last 3 hours", "no unrepaired drift", None)]
    start, end, drifted, repaired = rows[0][:4]
    left = 0 if repaired else drifted
    detail = "; ".join(
        f"{hour.astimezone(UTC):%Y-%m-%d %H:00} merchant {merchant} {currency}: "
        f"{count:+d} tx, {amount:+} written vs transactions"
        for _, _, _, _, hour, merchant, currency, count, amount in rows
        if hour is not None
    )
    shown = f"{start.astimezone(UTC):%Y-%m-%d %H:00}..{end.astimezone(UTC):%H:00} UTC"
    return [
        CheckResult(
            "txn_drift",
            CRITICAL if left else OK,
            f"{drifted} row(s) differ in {shown}" + (", repaired" if repaired else ""),
            "no unrepaired drift",
            float(left),
            detail,
        )
    ]


def txn_anomalies(ctx: CheckContext) -> list[CheckResult]:
    """One critical result per merchant the newest scan of the last 2 hours found anomalous (runbook 004 SIRA):
    the alert of each fires once and resolves when a newer scan no longer has it."""
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        rows = conn.execute(
            sql_file("alerting/txn_anomalies"), {"now": ctx.checked_at, "max_age": "2 hours"}
        ).fetchall()
    if not rows:
        return [CheckResult("txn_anomalies", OK, "no anomaly scan in the last 2 hours", "no anomaly", None)]
    hour, history, scored = rows[0][:3]
    shown = f"{hour.astimezone(UTC):%Y-%m-%d %H:00} UTC"
    results = [
        CheckResult(
            f"txn_anomalies:merchant {merchant}",
            CRITICAL,
            f"merchant {merchant}: {count} transaction(s) in {shown}, z = {z:+.1f}",
            f"|z| under the scan's threshold against the trailing {history} h",
            round(z, 2),
            f"mean {mean:.1f} a hour, standard deviation {stddev:.1f}, over the {history} h before; "
            f"{scored} merchant(s) scored",
        )
        for _, _, _, merchant, count, mean, stddev, z in rows
        if merchant is not None
    ]
    return results or [CheckResult("txn_anomalies", OK, f"no anomaly in {shown} ({scored} merchant(s))", "no anomaly",
                                   0.0)]  # fmt: skip


def txn_aggregation_lag(ctx: CheckContext) -> list[CheckResult]:
    """Runbook 004 key metric "Aggregation lag > 5 minutes": how long the oldest wallet transaction created after
    the consumer's newest write to txn_hourly_agg has waited."""
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        lag, last_write, waiting = conn.execute(
            sql_file("alerting/txn_aggregation_lag"), {"now": ctx.checked_at}
        ).fetchone()
    written = "never" if last_write is None else last_write.astimezone(UTC).isoformat(timespec="seconds")
    return [
        CheckResult(
            "txn_aggregation_lag",
            CRITICAL if lag > 300 else OK,
            f"{human_duration(lag)} behind ({waiting} transaction(s) waiting)" if waiting else "nothing waits",
            "runbook 004: under 5 minutes",
            round(lag, 1),
            f"newest write to txn_hourly_agg: {written}",
        )
    ]


def _staged_by_kind(ctx: CheckContext) -> list[tuple]:
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        return conn.execute(sql_file("alerting/staging_by_kind"), {"now": ctx.checked_at}).fetchall()


def _switch(enabled: bool, batch_rows: int | None) -> str:
    if not enabled:
        return "merge switched off in analytics_merge_control"
    return f"merged in batches of {batch_rows}" if batch_rows else "not merged yet (no control row)"


def staging_kind_backlog(ctx: CheckContext) -> list[CheckResult]:
    """Runbook 000 AnalyticsBufferGrowth: rows waiting in analytics_events_stage, one result per kind, graded by the
    health check's staging backlog thresholds."""
    data = ctx.config.health_check.data
    rows = _staged_by_kind(ctx)
    threshold = f"warn at {data.staging_backlog_warn_rows}, critical at {data.staging_backlog_critical_rows} rows"
    if not rows:
        return [CheckResult("staging_kind_backlog", OK, "nothing staged", threshold, 0.0)]
    return [
        CheckResult(
            f"staging_kind_backlog:{kind}",
            grade_above(waiting, data.staging_backlog_warn_rows, data.staging_backlog_critical_rows),
            f"{waiting} row(s) of {kind} waiting",
            threshold,
            float(waiting),
            f"oldest waiting {human_duration(oldest)}; {_switch(enabled, batch)}",
        )
        for kind, waiting, oldest, enabled, batch in rows
    ]


def staging_age(ctx: CheckContext) -> list[CheckResult]:
    """How long each kind's oldest staged row has waited for the merge (seconds)."""
    rows = _staged_by_kind(ctx)
    if not rows:
        return [CheckResult("staging_age", OK, "nothing staged", "merged within minutes", 0.0)]
    return [
        CheckResult(
            f"staging_age:{kind}",
            CRITICAL if oldest > 1800 else (WARN if oldest > 600 else OK),
            f"oldest {kind} row waiting {human_duration(oldest)}",
            "merged within minutes (analytics_ingest_merge runs every 5)",
            round(oldest, 1),
            f"{waiting} row(s) waiting; {_switch(enabled, batch)}",
        )
        for kind, waiting, oldest, enabled, batch in rows
    ]


def _newest_merges(ctx: CheckContext) -> tuple[list[tuple], float | None]:
    """The newest merge run of each kind, and the age (seconds) of the oldest staged row (None: nothing staged)."""
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        runs = conn.execute(sql_file("alerting/ingest_merges"), {"now": ctx.checked_at}).fetchall()
        oldest = conn.execute(
            "SELECT greatest(extract(EPOCH FROM %(now)s::timestamptz - min(received_at)), 0)::float8 "
            "FROM analytics_events_stage",
            {"now": ctx.checked_at},
        ).fetchone()[0]
    return runs, oldest


def ingest_merge(ctx: CheckContext) -> list[CheckResult]:
    """Runbook 000: the merge keeps up. Seconds since the newest successful analytics_ingest_merge run, while rows
    are staged (0 when nothing waits: an idle merge harms nobody); never merged: since the oldest staged row."""
    runs, oldest = _newest_merges(ctx)
    threshold = "a merge every 5 minutes while rows are staged"
    last = max((r[1] for r in runs), default=None)
    shown = "never" if last is None else f"{human_duration((ctx.checked_at - last).total_seconds())} ago"
    if oldest is None:
        return [CheckResult("ingest_merge", OK, f"nothing staged (last merge {shown})", threshold, 0.0)]
    since = (ctx.checked_at - last).total_seconds() if last is not None else oldest
    moved = sum(r[2] for r in runs if r[1] == last)
    return [
        CheckResult(
            "ingest_merge",
            CRITICAL if since > 900 else OK,
            f"last merge {shown}" + (f" ({moved} row(s))" if last is not None else ""),
            threshold,
            round(max(since, 0.0), 1),
            f"oldest staged row waiting {human_duration(oldest)}",
        )
    ]


def ingest_merge_batches(ctx: CheckContext) -> list[CheckResult]:
    """Each kind's slowest batch (seconds) in its newest merge run, with the run's throughput: batches are meant to
    stay under a second; much slower is runbook 000's stuck merge (lower the kind's batch_rows)."""
    runs, _ = _newest_merges(ctx)
    threshold = "batches under 1 s"
    results = [
        CheckResult(
            f"ingest_merge_batches:{kind}",
            CRITICAL if slowest > 10 else (WARN if slowest > 1 else OK),
            f"slowest batch {slowest:.2f} s of {batches} (up to {batch_rows} rows each)",
            threshold,
            round(slowest, 3),
            f"{rows} row(s) in {seconds:.1f} s ({rows / seconds if seconds else 0:,.0f} rows/s), finished "
            f"{finished.astimezone(UTC).isoformat(timespec='seconds')}"
            + ("; stopped by the kill switch" if stopped else ""),
        )
        for kind, finished, rows, batches, seconds, slowest, batch_rows, stopped in runs
        if batches
    ]
    return results or [CheckResult("ingest_merge_batches", OK, "no batch merged yet", threshold, 0.0)]


ALERTING_CHECKS: tuple[Check, ...] = (
    Check("check_dag_failing", "dag_failing", dag_failing,
          "the DAG's failure alert has the error and the runbook entry: fix the cause, clear the task"),
    Check("check_alert_rule_failures", "alert_rule_failures", alert_rule_failures,
          "runbook 004 Alerts Not Firing: fix or deactivate the rules named"),
    Check("check_txn_drift", "txn_drift", txn_drift,
          "runbook 004 Incorrect Aggregate Values: duplicate event processing? trigger analytics_txn_backfill"),
    Check("check_txn_anomalies", "txn_anomalies", txn_anomalies,
          "runbook 004 SIRA: a spike (promotion, duplicate processing) or a drop (integration or consumer down)?"),
    Check("check_txn_aggregation_lag", "txn_aggregation_lag", txn_aggregation_lag,
          "runbook 004 Consumer Lag Increasing: check the consumer's health and lag, scale consumers"),
    Check("check_usage_error_rate", "usage_error_rate", usage_error_rate,
          "runbook 003 High Error Rate Alert: error codes by model; analytics_incident_export for the window"),
    Check("check_usage_error_rate_rise", "usage_error_rate_rise", usage_error_rate_rise,
          "runbook 003 Error Rate Spike Alert: upstream incident? its window is exported by itself (on_alert)"),
    Check("check_usage_latency_p95", "usage_latency_p95", usage_latency_p95,
          "runbook 003 High Latency Alert: slow queries, connection pool, cache hit rate"),
    Check("check_usage_latency_p99", "usage_latency_p99", usage_latency_p99,
          "runbook 003 High Latency Alert: slow queries, connection pool, cache hit rate"),
    Check("check_usage_freshness", "usage_freshness", usage_freshness,
          "runbook 003 Freshness Lag: is analytics_usage_rollup running (paused? failing?), locks on the rollups?"),
    Check("check_usage_latency_rise", "usage_latency_rise", usage_latency_rise,
          "runbook 003 Latency Spike Alert: what changed in the last 15 minutes (deploys, load, locks)"),
    Check("check_staging_kind_backlog", "staging_kind_backlog", staging_kind_backlog,
          "runbook 000 AnalyticsBufferGrowth: is analytics_ingest_merge running and enabled for that kind?"),
    Check("check_staging_age", "staging_age", staging_age,
          "runbook 000: the kind's merge is off, stuck or behind: analytics_merge_control, ops.ingest_merge_runs"),
    Check("check_ingest_merge", "ingest_merge", ingest_merge,
          "runbook 000: look at analytics_ingest_merge's runs (paused? failing?)"),
    Check("check_ingest_merge_batches", "ingest_merge_batches", ingest_merge_batches,
          "runbook 000 merges stuck: EXPLAIN (ANALYZE, BUFFERS) a batch, lower the kind's batch_rows to 25000"),
)  # fmt: skip
