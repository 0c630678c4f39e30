"""Point-in-time recovery an operator runs (runbook 001 *Recovery Procedures › Scenario 1*).

`plan_pitr` checks the requested target time against the recoverable window, touching nothing:
the window starts when the oldest verified base backup finished and ends at the newest instant the
WAL folder holds (its last fetch, `wal.covered_until`); a time in the future, outside the window or
without a time zone is refused, saying what the window is. It picks the newest verified base
backup finished at or before the target (on PostgreSQL 17+ possibly an incremental one, recovered
with its chain through `pg_combinebackup`).

`recover_to_point` builds a new cluster from that base backup and the WAL in a new folder under
`backups.recovery_root` on the worker that runs it, on its own port, recovers it to the target and
promotes it; production is never touched. It reports what it recovered to (the commit time of the
last transaction replayed) and the row counts of the tables the runbook checks, and leaves the
cluster running for the operator (or stops and removes it when asked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics_ops.core.params import ParamError, blank

_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
# The tables runbook 001's *Verify Recovery* counts.
VERIFY_TABLES = ("tasks", "daily_analytics")


@dataclass(frozen=True)
class PitrPlan:
    target_time: datetime
    base_backup_id: str
    chain_locations: tuple[str, ...]  # the base backup, then any incremental ones on top, oldest first
    window_start: datetime
    window_end: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_time": self.target_time.isoformat(),
            "base_backup": self.base_backup_id,
            "chain_locations": list(self.chain_locations),
            "window": [self.window_start.isoformat(), self.window_end.isoformat()],
        }


def parse_target_time(value: object) -> datetime:
    """An ISO 8601 instant with its time zone (`2026-11-30T14:05:00Z`, `...+01:00`), or ParamError."""
    if blank(value) or not isinstance(value, str):
        raise ParamError("target_time: give the instant to recover to, e.g. 2026-11-30T14:05:00Z (with its time zone)")
    text = value.strip()
    if not _ISO_INSTANT.match(text):
        raise ParamError(
            f"target_time: {value!r} is not an instant with a time zone; write e.g. 2026-11-30T14:05:00Z "
            "or 2026-11-30T15:05:00+01:00"
        )
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParamError(f"target_time: {value!r} is not a real instant ({exc})") from None


def plan_pitr(params: dict[str, Any], backups: list[Any], covers_until: datetime | None, now: datetime) -> PitrPlan:
    """The recovery the params ask for, or ParamError saying what is wrong. Touches nothing."""
    target = parse_target_time(params.get("target_time"))
    if target > now:
        raise ParamError(
            f"target_time: {target.isoformat()} is in the future (now {now.isoformat(timespec='seconds')})"
        )
    bases = [
        b
        for b in backups
        if b.kind in ("base", "incremental") and b.verified_at is not None and b.finished_at is not None
    ]
    if not bases:
        raise ParamError("no verified base backup to recover from: run analytics_backup_incremental first")
    if covers_until is None:
        raise ParamError("no WAL has been fetched yet: run analytics_backup_incremental first")
    start = min(b.finished_at for b in bases)
    first, last = start.isoformat(timespec="seconds"), covers_until.isoformat(timespec="seconds")
    window = f"the recoverable window is {first} .. {last}"
    if target < start:
        raise ParamError(f"target_time: {target.isoformat()} is before the oldest verified base backup; {window}")
    if target > covers_until:
        raise ParamError(
            f"target_time: {target.isoformat()} is after the newest WAL fetched; {window}. Run "
            "analytics_backup_incremental to fetch the WAL up to now, then trigger this again"
        )
    from analytics_ops.backups.catalog import chain_of

    base = max((b for b in bases if b.finished_at <= target), key=lambda b: b.finished_at)
    try:
        chain = tuple(b.location for b in chain_of(backups, base))
    except RuntimeError as exc:
        raise ParamError(f"target_time: the backup to recover from is incomplete: {exc}") from None
    return PitrPlan(target, base.backup_id, chain, start, covers_until)


def recover_to_point(
    plan: PitrPlan,
    settings: Any,
    *,
    folder_name: str,
    port: int | None,
    keep_running: bool,
    template: Any,
    server_major_version: int,
    wal_dest: Any,
) -> dict[str, Any]:
    """Carry out a plan (see the module's docstring); returns the report."""
    import socket
    from pathlib import Path

    from psycopg import sql

    from analytics_ops.backups.recovery import free_port, start_recovered_cluster
    from analytics_ops.backups.storage import backup_path
    from analytics_ops.backups.wal import check_chain

    chain = [backup_path(location) for location in plan.chain_locations]
    manifest_start = _start_wal_file(chain[-1])
    check_chain(manifest_start, [p.name for p in wal_dest.iterdir()])  # WalChainBroken before anything is built
    folder = Path(settings.recovery_root) / folder_name
    if folder.exists():
        raise FileExistsError(f"{folder} exists: a recovery of this run is there already; remove it or re-trigger")
    cluster = start_recovered_cluster(
        chain,
        wal_dest,
        settings,
        folder=folder,
        port=port or free_port(),
        target_time=plan.target_time,
        template=template,
        server_major_version=server_major_version,
    )
    try:
        with cluster.target.connect(autocommit=True, connect_timeout=10) as conn:
            replayed = conn.execute("SELECT pg_last_xact_replay_timestamp()").fetchone()[0]
            counts = {}
            for table in VERIFY_TABLES:
                if conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()[0]:
                    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", table))
                    counts[table] = conn.execute(query).fetchone()[0]
    except BaseException:
        cluster.stop(remove=True)
        raise
    report = {
        **plan.as_dict(),
        "recovered_to_last_commit_at": replayed.isoformat() if replayed else None,
        "row_counts": counts,
        "host": socket.gethostname(),
        "port": cluster.target.port,
        "data_directory": str(cluster.data),
    }
    if keep_running:
        report["running"] = True
        # It listens on 127.0.0.1 only: connect on that host (or through an SSH tunnel to it).
        report["connect"] = f"on {report['host']}: psql -h 127.0.0.1 -p {cluster.target.port} -d {template.dbname}"
        report["stop_with"] = f"pg_ctl -D {cluster.data} stop && rm -r {folder} {cluster.socket_dir}"
    else:
        cluster.stop(remove=True)
        report["running"] = False
    return report


def _start_wal_file(base: Any) -> str:
    import json

    from analytics_ops.backups.storage import MANIFEST

    return json.loads((base / MANIFEST).read_text())["start_wal_file"]
