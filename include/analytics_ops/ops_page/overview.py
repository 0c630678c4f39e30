"""What the Analytics Ops page shows, gathered from where each fact lives.

- Suite DAGs (tagged `analytics-ops`, found in Airflow's metadata DB, never a fixed list) and the
  last run of each.
- The suite's own tables on the analytics primary: the newest verified backup (`ops.backups`),
  the last refresh of each materialized view and the archival counts (`ops.run_log` and the
  tables), the latest health-check results (`ops.health_check_results`), and what the continuous
  alert evaluator has firing or pending now, with its heartbeat (`ops.alerts` and its other
  tables: `ops_page/alerts.py`).
- Replica lag, measured now the way the lag gate measures it.

Each section is gathered on its own: one that cannot be read (a table another part of the suite
has not created yet, an unreachable replica) says so in its place and the others still show.
This code runs in the API server (the page's plugin), not in tasks, so reading Airflow's metadata
DB here is allowed; it reads the analytics databases through the suite's connections, read-only.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from analytics_ops.core.config import SuiteConfig, load_config
from analytics_ops.core.dag_defaults import SUITE_TAG

log = logging.getLogger(__name__)

SectionState = Literal["ok", "not_set_up", "error"]
# Reads for one page view must not queue behind production locks or run long.
PAGE_STATEMENT_TIMEOUT = timedelta(seconds=15)
PAGE_LOCK_TIMEOUT = timedelta(seconds=2)
PAGE_CONNECT_TIMEOUT = 5


@dataclass
class Section:
    state: SectionState = "ok"
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # figures shown beside the rows (alerts: the evaluator's)


@dataclass
class Overview:
    generated_at: datetime
    dags: Section
    alerts: Section
    exports: Section
    usage_freshness: Section
    backups: Section
    replica_lag: Section
    view_refreshes: Section
    archival: Section
    health_checks: Section

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_path(dag_id: str | None, run_id: str | None, ui_base: str = "") -> str | None:
    """The Airflow UI page of one DAG run (`/dags/<dag_id>/runs/<run_id>`)."""
    if not dag_id or not run_id:
        return None
    return f"{ui_base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def age_seconds(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def human_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            whole = int(seconds // size)
            rest = int((seconds % size) // {"d": 3600, "h": 60, "min": 1}[unit])
            rest_unit = {"d": "h", "h": "min", "min": "s"}[unit]
            return f"{whole} {unit} {rest} {rest_unit}" if rest else f"{whole} {unit}"
    return f"{int(seconds)} s"


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _guarded(name: str, gather) -> Section:
    # A page view shows what it could read: the error of one section is shown in its place (and
    # logged) instead of hiding the other sections behind an error page.
    try:
        return gather()
    except Exception as exc:
        from analytics_ops.core.errors import error_first_line

        log.warning("ops page: %s could not be read: %s", name, error_first_line(exc))
        return Section("error", [], error_first_line(exc))


# --- Airflow's side: the suite's DAGs and their last runs ------------------------------------------


def suite_dag_runs(session: Any, *, allowed_dag_ids: set[str] | None = None, ui_base: str = "") -> Section:
    """Every DAG tagged `analytics-ops` that Airflow knows (not stale), with its newest run."""
    from airflow.models.dag import DagModel, DagTag
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    dags = session.execute(
        select(DagModel.dag_id, DagModel.is_paused)
        .join(DagTag, DagTag.dag_id == DagModel.dag_id)
        .where(DagTag.name == SUITE_TAG, DagModel.is_stale.is_(False))
        .order_by(DagModel.dag_id)
    ).all()
    now = datetime.now(UTC)
    rows = []
    for dag_id, is_paused in dags:
        if allowed_dag_ids is not None and dag_id not in allowed_dag_ids:
            continue
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.run_after.desc(), DagRun.id.desc()).limit(1)
        ).first()
        finished = run.end_date if run else None
        rows.append(
            {
                "dag_id": dag_id,
                "paused": bool(is_paused),
                "run_id": run.run_id if run else None,
                "state": str(run.state.value if hasattr(run.state, "value") else run.state) if run else None,
                "run_type": str(getattr(run.run_type, "value", run.run_type)) if run else None,
                "run_after": run.run_after if run else None,
                "start_date": run.start_date if run else None,
                "end_date": finished,
                "age_seconds": age_seconds(finished or (run.start_date if run else None), now),
                "dag_url": f"{ui_base}/dags/{quote(dag_id, safe='')}",
                "run_url": run_path(dag_id, run.run_id, ui_base) if run else None,
            }
        )
    note = "" if rows else f"no DAG tagged {SUITE_TAG} has been parsed yet"
    return Section("ok", rows, note)


# --- The suite's tables on the analytics primary -----------------------------------------------------


def tables_present(conn: Any) -> dict[str, bool]:
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        cur.execute(sql_file("ops_page/tables_present"))
        names = [c.name for c in cur.description]
        return dict(zip(names, cur.fetchone(), strict=True))


def _dicts(conn: Any, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        cur.execute(sql_file(name), params or {})
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def newest_verified_backup(conn: Any, *, present: bool, now: datetime, ui_base: str = "") -> Section:
    if not present:
        return Section("not_set_up", [], "ops.backups does not exist yet: the backup DAGs are not set up")
    counts = _dicts(conn, "ops_page/backup_counts")[0]
    rows = _dicts(conn, "ops_page/newest_verified_backup")
    for row in rows:
        row["age_seconds"] = age_seconds(row["finished_at"], now)
        row["size"] = human_bytes(row["size_bytes"])
        row["run_url"] = run_path(row["dag_id"], row["run_id"], ui_base)
    note = f"{counts['kept']} backups kept, {counts['verified']} verified"
    if not rows:
        note += "; no verified backup"
    return Section("ok", rows, note)


def view_refreshes(conn: Any, config: SuiteConfig, *, now: datetime, ui_base: str = "") -> Section:
    """Every view of every `mv_refresh` group, with its newest recorded refresh (or none)."""
    from analytics_ops.core.db import split_name

    views = [(group, view) for group, spec in config.mv_refresh.groups.items() for view in spec.views]
    # The refresh task records the view schema-qualified (an unqualified name is in `public`).
    qualified = {view: ".".join(split_name(view)) for _, view in views}
    found = {
        r["view_name"]: r for r in _dicts(conn, "ops_page/view_refreshes", {"views": sorted(set(qualified.values()))})
    }
    rows = []
    for group, view in views:
        last = found.get(qualified[view])
        details = (last or {}).get("details") or {}
        rows.append(
            {
                "view": view,
                "group": group,
                "finished_at": last["finished_at"] if last else None,
                "age_seconds": age_seconds(last["finished_at"], now) if last else None,
                "outcome": last["outcome"] if last else None,
                "mode": details.get("mode"),
                "seconds": details.get("seconds"),
                "rows": details.get("rows"),
                "dag_id": last["dag_id"] if last else None,
                "run_id": last["run_id"] if last else None,
                "run_url": run_path(last["dag_id"], last["run_id"], ui_base) if last else None,
            }
        )
    return Section("ok", rows, "" if views else "no materialized views configured (mv_refresh.groups)")


def archival_counts(conn: Any, *, ui_base: str = "") -> Section:
    row = _dicts(conn, "ops_page/archival_counts")[0]
    details = row.pop("last_run_details") or {}
    row.update(
        {
            "last_run_cutoff": details.get("cutoff"),
            "last_run_dry_run": details.get("dry_run"),
            "last_run_qualified": details.get("qualified"),
            "last_run_moved": details.get("moved"),
            "last_run_arrived": details.get("arrived"),
            "last_run_left_behind": details.get("left_behind"),
            "last_run_url": run_path(row["last_run_dag_id"], row["last_run_run_id"], ui_base),
        }
    )
    note = "" if row["last_run_finished_at"] else "the monthly archival has not run yet"
    return Section("ok", [row], note)


def latest_health_checks(conn: Any, *, present: bool, now: datetime, ui_base: str = "") -> Section:
    if not present:
        return Section(
            "not_set_up", [], "ops.health_check_results does not exist yet: the health-check DAGs are not set up"
        )
    rows = _dicts(conn, "ops_page/latest_health_checks")
    order = {"critical": 0, "warn": 1, "ok": 2}
    rows.sort(key=lambda r: (order.get(r["status"], 3), r["check_name"]))
    for row in rows:
        row["age_seconds"] = age_seconds(row["checked_at"], now)
        row["run_url"] = run_path(row["dag_id"], row["run_id"], ui_base)
    return Section("ok", rows, "" if rows else "no health check has run yet")


def replica_lag(config: SuiteConfig) -> Section:
    from analytics_ops.replication.lag import measure

    verdict = measure(config.replication)
    rows = [
        {
            "replica": lag.replica,
            "source": lag.source,
            "lag_seconds": lag.lag_seconds,
            "lag_bytes": lag.lag_bytes,
            "lag_size": human_bytes(lag.lag_bytes),
            "note": lag.note,
        }
        for lag in verdict.lags
    ]
    limits = (
        f"limits {config.replication.max_lag_seconds:g} s, {human_bytes(config.replication.max_lag_bytes)}; "
        "measured now"
    )
    note = limits if verdict.ok else "; ".join(verdict.problems) + f" ({limits})"
    return Section("ok" if verdict.ok else "error", rows, note)


DATABASE_SECTIONS = ("alerts", "exports", "usage_freshness", "backups", "view_refreshes", "archival", "health_checks")


def database_sections(conn: Any, config: SuiteConfig, *, now: datetime, ui_base: str = "") -> dict[str, Section]:
    """The sections read from the analytics primary over `conn`, each in its own (sub)transaction so
    that one failing leaves the others readable."""

    def guarded(name: str, gather) -> Section:
        def in_transaction() -> Section:
            with conn.transaction():
                return gather()

        return _guarded(name, in_transaction)

    from analytics_ops.ops_page.alerts import open_alerts
    from analytics_ops.ops_page.exports import incident_exports
    from analytics_ops.ops_page.usage import usage_freshness

    present = tables_present(conn)
    return {
        "alerts": guarded("alerts", lambda: open_alerts(conn, present=present["alerts"], now=now)),
        "exports": guarded("incident exports", lambda: incident_exports(conn, present=present["exports"], now=now)),
        "usage_freshness": guarded(
            "usage rollup freshness", lambda: usage_freshness(conn, present=present["usage_rollup"], now=now)
        ),
        "backups": guarded(
            "backups", lambda: newest_verified_backup(conn, present=present["backups"], now=now, ui_base=ui_base)
        ),
        "view_refreshes": guarded("view refreshes", lambda: view_refreshes(conn, config, now=now, ui_base=ui_base)),
        "archival": guarded("archival counts", lambda: archival_counts(conn, ui_base=ui_base)),
        "health_checks": guarded(
            "health checks",
            lambda: latest_health_checks(conn, present=present["health_check_results"], now=now, ui_base=ui_base),
        ),
    }


def gather_database_sections(config: SuiteConfig, *, now: datetime, ui_base: str = "") -> dict[str, Section]:
    """`database_sections` over a short autocommit session of the page's own (application_name
    `analytics-ops:ops-page`, tight timeouts); an unreachable primary is every section's error."""
    from analytics_ops.core.db import connect

    try:
        with connect(
            config.connections.primary,
            autocommit=True,
            lock_timeout=PAGE_LOCK_TIMEOUT,
            statement_timeout=PAGE_STATEMENT_TIMEOUT,
            application_name="analytics-ops:ops-page",
            connect_timeout=PAGE_CONNECT_TIMEOUT,
        ) as conn:
            return database_sections(conn, config, now=now, ui_base=ui_base)
    except Exception as exc:
        from analytics_ops.core.errors import error_first_line

        log.warning("ops page: the analytics primary could not be read: %s", error_first_line(exc))
        message = f"the analytics primary ({config.connections.primary}) could not be read: {error_first_line(exc)}"
        return {
            name: Section("error", [], message)
            for name in (
                "alerts",
                "exports",
                "usage_freshness",
                "backups",
                "view_refreshes",
                "archival",
                "health_checks",
            )
        }


def gather(session: Any, *, allowed_dag_ids: set[str] | None = None, ui_base: str = "") -> Overview:
    """Everything the page shows, now."""
    config = load_config()
    now = datetime.now(UTC)
    database = gather_database_sections(config, now=now, ui_base=ui_base)
    return Overview(
        generated_at=now,
        dags=_guarded("suite DAGs", lambda: suite_dag_runs(session, allowed_dag_ids=allowed_dag_ids, ui_base=ui_base)),
        replica_lag=_guarded("replica lag", lambda: replica_lag(config)),
        **database,
    )
