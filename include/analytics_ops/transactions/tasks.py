"""The task bodies of analytics_txn_backfill and analytics_txn_reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analytics_ops.core import tasks
from analytics_ops.core.config import load_config

# --- analytics_txn_backfill ------------------------------------------------------------------------


def resolve_backfill() -> list[dict[str, str]]:
    """Which hours this run rebuilds, in chunks; refuses bad params before anything is touched."""
    from analytics_ops.core.params import refused
    from analytics_ops.transactions.backfill import backfill_hours

    params, settings = tasks.params(), load_config().transactions
    with refused("rebuilt"):
        hours = backfill_hours(params.get("from"), params.get("to"), settings, datetime.now(UTC))
        if not isinstance(params.get("dry_run"), bool):
            from analytics_ops.core.params import ParamError

            raise ParamError(f"dry_run: give true or false, not {params.get('dry_run')!r}")
    chunks = hours.split(settings.chunk_hours)
    mode = "dry run: nothing is written" if params["dry_run"] else "rebuilding"
    print(f"{hours} ({hours.hours} hours) in {len(chunks)} chunk(s) of up to {settings.chunk_hours} h; {mode}")
    return [chunk.as_params() for chunk in chunks]


def rebuild_chunk(chunk: dict[str, str]) -> dict[str, Any]:
    """Rebuild one chunk of hours from wallet_transactions in one transaction (dry run: say what would change)."""
    from analytics_ops.transactions.hours import HourRange, drift, rebuild, summarize

    hours = HourRange.from_params(chunk)
    if tasks.params()["dry_run"]:
        with tasks.task_session() as conn:
            found = drift(conn, hours)
        summary = {"hours": str(hours), "dry_run": True, **summarize(found)}
        print(f"{hours}: would change {summary}")
        for line in found[:10]:
            print(f"  {line}")
        return summary
    result = tasks.run_recorded(
        lambda conn: rebuild(conn, hours),
        subject=str(hours),
        details=lambda r: {"rows_deleted": r.rows_deleted, "rows_written": r.rows_written},
    )
    print(f"{hours}: replaced {result.rows_deleted} rows with {result.rows_written}")
    return {"hours": str(hours), "dry_run": False, "rows_written": result.rows_written}


def publish_backfill(results: list[dict[str, Any]]) -> None:
    """Tell the views that read txn_hourly_agg it changed (the Asset); a dry run changed nothing."""
    from airflow.sdk.exceptions import AirflowSkipException

    from analytics_ops.core.xcom import mapped_results

    if tasks.params()["dry_run"]:
        raise AirflowSkipException("dry run: nothing was written, mv_txn_daily_agg is not refreshed for it")
    written = mapped_results(results)
    print(f"rebuilt {len(written)} chunk(s), {sum(r['rows_written'] for r in written)} rows written")


# --- analytics_txn_reconciliation ------------------------------------------------------------------


def find_drift() -> dict[str, Any]:
    """Recompute the last closed hours from wallet_transactions; record every row that differs."""
    from analytics_ops.transactions.hours import drift
    from analytics_ops.transactions.reconciliation import Reconciliation, record, window

    settings = load_config().transactions
    hours = window(tasks.run_date(), settings)
    with tasks.task_session() as conn:
        found = Reconciliation(hours, drift(conn, hours))
        found.reconciliation_id = record(conn, tasks.run_id(), found)
    print(f"{hours}: {len(found.drifts)} row(s) differ from wallet_transactions, in {len(found.drifted_hours)} hour(s)")
    for line in found.drifts[:20]:
        print(f"  {line}")
    return {
        "reconciliation_id": found.reconciliation_id,
        "window": str(hours),
        "drifted_rows": len(found.drifts),
        "drifted_hours": [h.isoformat() for h in found.drifted_hours],
    }


def repair_drift(found: dict[str, Any]) -> dict[str, Any]:
    """With transactions.repair_drift, rebuild the hours that drifted (one short transaction each)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from analytics_ops.transactions.reconciliation import repair

    if not found["drifted_hours"]:
        raise AirflowSkipException("no drift: nothing to repair")
    if not load_config().transactions.repair_drift:
        raise AirflowSkipException(
            f"{found['drifted_rows']} drifted row(s) left as they are (transactions.repair_drift is off): "
            "the txn_aggregates_drifting alert says so; trigger analytics_txn_backfill for those days to repair"
        )
    hours = [datetime.fromisoformat(h) for h in found["drifted_hours"]]
    repaired = tasks.run_recorded(
        lambda conn: repair(conn, found["reconciliation_id"], hours),
        subject=found["window"],
        details=lambda r: {"repaired_hours": [h.isoformat() for h in r]},
    )
    print(f"rebuilt {len(repaired)} hour(s): {', '.join(h.isoformat() for h in repaired)}")
    return {"repaired_hours": len(repaired)}


# --- analytics_txn_anomalies -----------------------------------------------------------------------


def score_anomalies() -> dict[str, Any]:
    """Score each merchant's last closed hour against its trailing window; store the scan and its anomalies."""
    from analytics_ops.transactions.anomalies import record, score, scored_hour

    settings = load_config().transactions
    hour = scored_hour(tasks.run_date())

    def work(conn: Any) -> Any:
        scan = score(conn, hour, settings)
        scan.scan_id = record(conn, tasks.run_id(), scan)
        return scan

    scan = tasks.run_recorded(
        work,
        subject=f"{hour:%Y-%m-%d %H:00} UTC",
        details=lambda s: {"merchants_scored": len(s.scores), "anomalies": [str(a) for a in s.anomalies[:10]]},
    )
    print(
        f"{hour:%Y-%m-%d %H:00} UTC: {len(scan.scores)} merchant(s) scored against their last "
        f"{settings.anomaly_history_hours} h, {len(scan.anomalies)} anomal{'y' if len(scan.anomalies) == 1 else 'ies'} "
        f"(|z| >= {settings.anomaly_z_threshold:g}); the txn_anomaly rule of analytics_alert_evaluator sends them"
    )
    for anomaly in scan.anomalies[:20]:
        print(f"  {anomaly}")
    return {"hour": hour.isoformat(), "merchants_scored": len(scan.scores), "anomalies": len(scan.anomalies)}
