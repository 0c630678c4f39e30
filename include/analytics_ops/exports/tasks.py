"""The task bodies of analytics_incident_export (by hand) and analytics_incident_export_on_alert (asked for by
firing alerts): both export with `export_csv` and post with `post_link`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analytics_ops.core import tasks
from analytics_ops.core.config import load_config


def check_params() -> dict[str, Any]:
    """Parse and check every param before anything runs; then record the export as pending."""
    from analytics_ops.core.params import refused
    from analytics_ops.exports.incident import export_request, record_pending

    with refused("exported"):
        request = export_request(tasks.params(), load_config().incident_export, datetime.now(UTC))
    with tasks.task_session() as conn:
        export_id = record_pending(conn, tasks.run_id(), request)
    print(f"export {export_id}: {request}, at most {request.max_rows:,} rows")
    return {"export_id": export_id, **request.as_params()}


def export_csv(asked: dict[str, Any]) -> dict[str, Any]:
    """Stream the events as CSV into object storage; the export's row says how it ended either way."""
    from analytics_ops.backups.storage import destination_root
    from analytics_ops.exports.incident import ExportRequest, export_path, record_end, stream_csv

    config = load_config()
    settings = config.incident_export
    request, export_id = ExportRequest.from_params(asked), asked["export_id"]
    path = None
    try:
        path = export_path(destination_root(config.backups), settings, request, export_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tasks.task_session(statement_timeout=settings.statement_timeout) as conn:
            with path.open("wb") as out:
                exported = stream_csv(conn, request, out)
            record_end(
                conn,
                export_id,
                status="succeeded",
                exported_rows=exported.rows,
                exported_bytes=exported.bytes,
                truncated=exported.truncated,
                location=str(path),
            )
    except Exception as exc:
        _remove_partial(path)
        with tasks.task_session() as conn:
            record_end(conn, export_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:1000])
        raise
    cut = f", cut at max_rows {request.max_rows:,}: the window holds more" if exported.truncated else ""
    print(f"export {export_id}: {exported.rows:,} rows, {exported.bytes:,} bytes{cut} -> {path}")
    return {
        "export_id": export_id,
        "alert": asked.get("alert"),  # the alert that asked for it (analytics_incident_export_on_alert)
        "request": str(request),
        "rows": exported.rows,
        "bytes": exported.bytes,
        "truncated": exported.truncated,
        "location": str(path),
    }


def _remove_partial(path: Any) -> None:
    # A CSV cut short by a failure must not be mistaken for the export.
    try:
        if path is not None and path.exists():
            path.unlink()
    except OSError as exc:
        print(f"could not remove the partial file {path}: {exc}")


def post_link(result: dict[str, Any]) -> None:
    """The link to the finished export, in the team's Slack channel."""
    from analytics_ops.alerting.slack import post

    cut = f" (cut at max_rows {result['rows']:,}: the window holds more)" if result["truncated"] else ""
    alert = result.get("alert")
    asked = f", for the alert {alert['rule']} firing since {alert['firing_since']}" if alert else ""
    text = (
        f":page_facing_up: *Incident export {result['export_id']}* ({result['request']}{asked}): "
        f"{result['rows']:,} events{cut}, {result['bytes']:,} bytes\n{result['location']}"
    )
    post(load_config().incident_export.notify_connection, text)
    print(f"posted the link to {load_config().incident_export.notify_connection}")


def take_alert_requests() -> list[dict[str, Any]]:
    """Take the exports firing alerts asked for that no run has taken yet; none: nothing to export."""
    from analytics_ops.exports.incident import take_requests

    with tasks.task_session() as conn:
        taken = take_requests(conn, tasks.run_id())
    if not taken:
        print("no export request waiting (an earlier run took them): nothing to export")
    for asked in taken:
        alert = asked["alert"]
        print(f"export {asked['export_id']}: org {asked['org_id']} model {asked['model_id']}, {asked['start']}.."
              f"{asked['end']}, asked by {alert['rule']} firing since {alert['firing_since']}")  # fmt: skip
    return taken
