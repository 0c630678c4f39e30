"""What the backup DAGs' tasks do, one function per task, callable without a scheduler.

Each function reads the config, opens its own connections (the catalogue through `connect`, the
tools through `pg_target`), records what it did in `ops.backups`, and returns a JSON-able summary
that the task prints and returns. Each starts by resolving the destination (`_root`), which refuses a
folder local to each worker when the executor spreads tasks over hosts: before anything is touched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analytics_ops.core.config import load_config

WAL_FOLDER = "wal"


def log_task(subject: str | None, details: dict[str, Any], *, application_name: str) -> dict[str, Any]:
    """Print what the running task did and record it in ops.run_log, like every suite task; returns it."""
    from analytics_ops.core.run_log import record_task_run

    print(f"{subject or 'done'}: {details}")
    with _catalogue(application_name) as conn:
        record_task_run(conn, subject=subject, details=details)
    return details


def _catalogue(application_name: str) -> Any:
    from analytics_ops.core.db import connect

    return connect(application_name=application_name)


def _target() -> Any:
    from analytics_ops.backups.pg_tools import pg_target

    return pg_target(load_config().connections.primary)


def _root() -> Any:
    """The destination's root; raises DestinationNotShared (nothing touched yet) where workers could not share it."""
    from analytics_ops.backups.storage import destination_root

    return destination_root(load_config().backups)


def run_full_backup(backup_id: str, *, dag_id: str, run_id: str, application_name: str) -> dict[str, Any]:
    from analytics_ops.backups.catalog import record_finished, record_started
    from analytics_ops.backups.full import take_full_backup

    config = load_config()
    dest = _root() / "full" / backup_id
    with _catalogue(application_name) as conn:
        record_started(conn, backup_id=backup_id, kind="full", location=str(dest), dag_id=dag_id, run_id=run_id)
        manifest = take_full_backup(
            _target(),
            dest,
            backup_id,
            config.backups,
            lock_timeout=config.database.lock_timeout,
            application_name=application_name,
        )
        record_finished(conn, manifest)
    return {
        "backup_id": backup_id,
        "location": str(dest),
        "files": len(manifest["files"]),
        "size_bytes": manifest["size_bytes"],
        "tables": len(manifest["row_counts"]),
        "rows": sum(manifest["row_counts"].values()),
        "snapshot": manifest["snapshot"],
        "seconds": manifest["seconds"],
    }


def run_full_verification(backup_id: str, *, application_name: str) -> dict[str, Any]:
    """Verify one full backup; the outcome (pass or the failure's message) goes to the catalogue."""
    from analytics_ops.backups.catalog import record_verification
    from analytics_ops.backups.full import verify_full_backup

    config = load_config()
    dest = _root() / "full" / backup_id
    with _catalogue(application_name) as conn:
        try:
            result = verify_full_backup(
                _target(),
                dest,
                config.backups,
                lock_timeout=config.database.lock_timeout,
                application_name=application_name,
            )
        except Exception as exc:
            record_verification(conn, backup_id, passed=False, details={"error": str(exc)})
            raise
        record_verification(conn, backup_id, passed=True, details=result)
    return result


def run_retention(now: datetime, *, application_name: str) -> dict[str, Any]:
    from analytics_ops.backups.catalog import apply_retention, list_backups, plan_retention

    settings = load_config().backups
    root = _root()
    wal = root / WAL_FOLDER
    wal_names = [p.name for p in wal.iterdir()] if wal.exists() else []
    with _catalogue(application_name) as conn:
        plan = plan_retention(list_backups(conn), wal_names, now, settings.retention_days)
        apply_retention(conn, plan, root)
    summary = plan.summary()
    # The task log lists every deletion, and why each survivor was kept.
    for backup in plan.delete_backups:
        print(f"deleted backup {backup.backup_id} ({backup.kind}, started {backup.started_at}) at {backup.location}")
    if plan.delete_wal:
        print(f"deleted {len(plan.delete_wal)} WAL segments {plan.delete_wal[0]} .. {plan.delete_wal[-1]}")
    for backup_id, reason in summary["kept"].items():
        print(f"kept {backup_id}: {reason}")
    return summary


def apply_retention_now(*, application_name: str) -> dict[str, Any]:
    """Both backup DAGs' last task: retention over the whole catalogue, logged like every task."""
    return log_task(
        "retention",
        run_retention(datetime.now(UTC), application_name=application_name),
        application_name=application_name,
    )


def prepare_wal_slot(*, application_name: str) -> dict[str, Any]:
    """The backup slot, created if missing and recreated if invalidated (then a base backup is due)."""
    from analytics_ops.backups.wal import reset_slot, slot_state
    from analytics_ops.core.db import connect

    settings = load_config().backups
    _root()  # a slot holds WAL on the primary: not for a destination the next task could not use
    with connect(application_name=application_name) as conn:
        state = slot_state(conn, settings.wal_slot, create=True)
        reset = state.wal_status == "lost"
        if reset:
            reset_slot(conn, settings.wal_slot)
    return {**state.as_dict(), "reset": reset, "base_backup_required": state.created or reset}


def run_base_backup_if_due(
    backup_id: str, now: datetime, *, required: bool, dag_id: str, run_id: str, application_name: str
) -> dict[str, Any]:
    """A new base backup when required, when none is verified, or the newest is too old; otherwise,
    on PostgreSQL 17+, an incremental base backup on top of the newest verified one of its chain."""
    from analytics_ops.backups.catalog import chain_tip, list_backups, newest_verified, record_finished, record_started
    from analytics_ops.backups.pg_tools import server_major
    from analytics_ops.backups.wal import take_base_backup

    settings = load_config().backups
    root = _root()
    parent = None
    with _catalogue(application_name) as conn:
        backups = list_backups(conn)
        newest = newest_verified(backups, "base")
        if required:
            reason = "the WAL slot was (re)created: WAL before it is not kept"
        elif newest is None:
            reason = "no verified base backup"
        elif now - newest.started_at >= settings.base_backup_every:
            reason = f"the newest verified base backup ({newest.backup_id}) is older than {settings.base_backup_every}"
        elif settings.incremental_base_backups and server_major(conn) >= 17:
            if conn.execute("SHOW summarize_wal").fetchone()[0] != "on":
                raise RuntimeError(
                    "summarize_wal is off on this PostgreSQL 17+ server: incremental base backups need it. Run "
                    "deploy/bootstrap.sh (it turns it on), or set backups.incremental_base_backups: false"
                )
            parent = chain_tip(backups, newest)
            backup_id = backup_id.replace("base-", "incr-", 1)
            reason = f"an incremental base backup on top of {parent.backup_id} (PostgreSQL 17+)"
        else:
            return {"taken": False, "reason": f"{newest.backup_id} is recent enough", "base_backup": newest.backup_id}
        kind = "base" if parent is None else "incremental"
        dest = root / "base" / backup_id
        record_started(conn, backup_id=backup_id, kind=kind, location=str(dest), dag_id=dag_id, run_id=run_id)
        manifest = take_base_backup(
            _target(), dest, backup_id, settings, application_name=application_name, parent=parent
        )
        record_finished(conn, manifest)
    return {
        "taken": True,
        "kind": kind,
        "reason": reason,
        "base_backup": backup_id,
        "start_wal_file": manifest["start_wal_file"],
        **({"chain": manifest["chain"]} if parent is not None else {}),
    }


def run_wal_fetch(*, application_name: str, timeout: float = 1800) -> dict[str, Any]:
    """Fetch WAL through the slot; then the chain from the newest base backup must be whole."""
    from analytics_ops.backups.catalog import list_backups
    from analytics_ops.backups.wal import check_chain, fetch_wal, slot_state
    from analytics_ops.core.db import connect

    settings = load_config().backups
    wal = _root() / WAL_FOLDER
    fetched = fetch_wal(_target(), wal, settings, application_name=application_name, timeout=timeout)
    with connect(application_name=application_name) as conn:
        backups = list_backups(conn)
        bases = [b for b in backups if b.kind in ("base", "incremental") and b.finished_at is not None]
        state = slot_state(conn, settings.wal_slot, create=False)
    chain = None
    if bases:
        newest = max(bases, key=lambda b: b.started_at)
        chain = {"base_backup": newest.backup_id, **check_chain(newest.manifest["start_wal_file"], _names(wal))}
    result = {**fetched, "chain": chain, "slot": state.as_dict()}
    if state.retained_bytes > settings.max_retained_wal_mb * 2**20:
        raise RuntimeError(
            f"the backup slot {settings.wal_slot} still holds {state.retained_bytes / 2**20:,.0f} MB of WAL after "
            f"fetching (limit backups.max_retained_wal_mb = {settings.max_retained_wal_mb}): pg_receivewal is "
            f"not keeping up or the slot is stuck; see docs/backups.md. {result}"
        )
    return result


def _names(folder: Any) -> list[str]:
    return [p.name for p in folder.iterdir()] if folder.exists() else []


def run_restore_drill(*, application_name: str, target_time: datetime | None = None, always: bool = False) -> dict:
    """Recover the newest finished base backup (or incremental one, combined with its chain) + all WAL
    in a temporary cluster; verified if it works.

    Skipped (the WAL chain was checked by the fetch) when that base backup is verified already,
    unless `always`: a drill copies the whole base backup.
    """
    from analytics_ops.backups.catalog import chain_of, list_backups, record_verification
    from analytics_ops.backups.pg_tools import server_major
    from analytics_ops.backups.recovery import recover
    from analytics_ops.backups.storage import backup_path

    settings = load_config().backups
    root = _root()
    target = _target()
    with _catalogue(application_name) as conn:
        backups = list_backups(conn)
        bases = [b for b in backups if b.kind in ("base", "incremental") and b.finished_at is not None]
        if not bases:
            raise RuntimeError("no base backup to drill: the take_base_backup task has not succeeded yet")
        base = max(bases, key=lambda b: b.started_at)
        if base.verified_at is not None and not always:
            return {"base_backup": base.backup_id, "drill": f"not needed: verified at {base.verified_at}"}
        major = server_major(conn)
        started = datetime.now(UTC)
        try:
            with (
                recover(
                    [backup_path(member.location) for member in chain_of(backups, base)],
                    root / WAL_FOLDER,
                    settings,
                    target_time=target_time,
                    template=target,
                    server_major_version=major,
                ) as recovered,
                recovered.connect() as probe,
            ):
                tables = probe.execute("SELECT count(*) FROM pg_class WHERE relkind = 'r'").fetchone()[0]
                replayed_to = probe.execute("SELECT pg_last_wal_replay_lsn()").fetchone()[0]
        except Exception as exc:
            record_verification(conn, base.backup_id, passed=False, details={"error": str(exc)})
            raise
        details = {
            "drill": "recovered base + WAL in a temporary cluster"
            + (f" (pg_combinebackup of {base.manifest['chain']})" if base.kind == "incremental" else ""),
            "tables": tables,
            "replayed_to_lsn": str(replayed_to) if replayed_to else None,
            "seconds": round((datetime.now(UTC) - started).total_seconds(), 3),
        }
        record_verification(conn, base.backup_id, passed=True, details=details)
    return {"base_backup": base.backup_id, **details}
