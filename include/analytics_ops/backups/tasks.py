"""The task bodies of the backup DAGs (`analytics_backup_full`, `analytics_backup_incremental`,
`analytics_restore`): one function per task, named after it, on top of `jobs` and `restore`.

Each opens its sessions as its task (`core.tasks.session_name`) and returns the summary the task
returns; the work itself is in `jobs` (callable without a scheduler, as the tests call it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analytics_ops.core import tasks


def dump_database() -> dict[str, Any]:
    from analytics_ops.backups.full import backup_id_for
    from analytics_ops.backups.jobs import log_task, run_full_backup

    app = tasks.session_name()
    backup_id = backup_id_for("full", tasks.run_date())
    result = run_full_backup(backup_id, dag_id=tasks.dag_id(), run_id=tasks.run_id(), application_name=app)
    return log_task(backup_id, result, application_name=app)


def verify_backup(backup: dict[str, Any]) -> dict[str, Any]:
    from analytics_ops.backups.jobs import log_task, run_full_verification

    app = tasks.session_name()
    result = run_full_verification(backup["backup_id"], application_name=app)
    return log_task(backup["backup_id"], result, application_name=app)


def apply_retention() -> dict[str, Any]:
    from analytics_ops.backups.jobs import apply_retention_now

    return apply_retention_now(application_name=tasks.session_name())


def prepare_wal_slot() -> dict[str, Any]:
    from analytics_ops.backups.jobs import log_task
    from analytics_ops.backups.jobs import prepare_wal_slot as prepare

    app = tasks.session_name()
    result = prepare(application_name=app)
    return log_task(result["slot"], result, application_name=app)


def take_base_backup(slot: dict[str, Any]) -> dict[str, Any]:
    from analytics_ops.backups.full import backup_id_for
    from analytics_ops.backups.jobs import log_task, run_base_backup_if_due

    app, now = tasks.session_name(), datetime.now(UTC)
    result = run_base_backup_if_due(
        backup_id_for("base", now),
        now,
        required=slot["base_backup_required"],
        dag_id=tasks.dag_id(),
        run_id=tasks.run_id(),
        application_name=app,
    )
    return log_task(result["base_backup"], result, application_name=app)


def fetch_wal() -> dict[str, Any]:
    from analytics_ops.backups.jobs import log_task, run_wal_fetch

    app = tasks.session_name()
    return log_task("wal", run_wal_fetch(application_name=app), application_name=app)


def verify_restorable() -> dict[str, Any]:
    from analytics_ops.backups.jobs import log_task, run_restore_drill

    app = tasks.session_name()
    result = run_restore_drill(application_name=app)
    return log_task(result["base_backup"], result, application_name=app)


def check_restore_params() -> dict[str, Any]:
    # The restore the params ask for, refused (nothing touched) when they are wrong.
    from analytics_ops.backups.catalog import list_backups
    from analytics_ops.backups.restore import plan_restore
    from analytics_ops.core.params import refused

    with tasks.task_session() as conn:
        backups = list_backups(conn)
        database = conn.info.dbname
    with refused("restored"):
        plan = plan_restore(tasks.params(), backups, database, "aops_restore_")
    print(f"restore plan: {plan.as_dict()}")
    return {**plan.as_dict(), "location": plan.location, "expected_rows": plan.expected_rows}


def restore_tables(planned: dict[str, Any]) -> dict[str, Any]:
    from analytics_ops.backups.pg_tools import pg_target
    from analytics_ops.backups.restore import RestorePlan
    from analytics_ops.backups.restore import restore_tables as restore
    from analytics_ops.core.config import load_config

    config = load_config()
    plan = RestorePlan(
        backup_id=planned["backup_id"],
        location=planned["location"],
        tables=tuple(tuple(name.split(".", 1)) for name in planned["tables"]),
        target_database=planned["target_database"],
        overwrite_production=planned["overwrite_production"],
        expected_rows=planned["expected_rows"],
    )
    result = restore(
        plan,
        pg_target(config.connections.primary),
        config.backups,
        lock_timeout=config.database.lock_timeout,
        application_name=tasks.session_name(),
    )
    for name, rows in result["rows"].items():
        print(f"{name}: {rows['restored']} rows restored into {plan.target_database} (backup had {rows['in_backup']})")
    return result


def check_pitr_params() -> dict[str, Any]:
    # The recovery the params ask for, refused (nothing touched) when the time is outside the window.
    from analytics_ops.backups.catalog import list_backups
    from analytics_ops.backups.jobs import WAL_FOLDER, _root
    from analytics_ops.backups.pitr import plan_pitr
    from analytics_ops.backups.wal import covered_until
    from analytics_ops.core.params import refused

    params = tasks.params()
    covers_until = covered_until(_root() / WAL_FOLDER)
    with tasks.task_session() as conn:
        backups = list_backups(conn)
    with refused("recovered"):
        port = params.get("port")
        if port is not None and not 1024 <= port <= 65535:
            from analytics_ops.core.params import ParamError

            raise ParamError(f"port: {port} is not a port from 1024 to 65535; leave it empty for a free one")
        plan = plan_pitr(params, backups, covers_until, datetime.now(UTC))
    print(f"recovery plan: {plan.as_dict()}")
    return {**plan.as_dict(), "port": port, "keep_running": bool(params.get("keep_running"))}


def recover_to_point(planned: dict[str, Any]) -> dict[str, Any]:
    """Recover a new cluster to the target time on this worker; report what it recovered to."""
    from analytics_ops.backups.jobs import WAL_FOLDER, _root, _target, log_task
    from analytics_ops.backups.pg_tools import server_major
    from analytics_ops.backups.pitr import PitrPlan, recover_to_point
    from analytics_ops.core.config import load_config

    plan = PitrPlan(
        target_time=datetime.fromisoformat(planned["target_time"]),
        base_backup_id=planned["base_backup"],
        chain_locations=tuple(planned["chain_locations"]),
        window_start=datetime.fromisoformat(planned["window"][0]),
        window_end=datetime.fromisoformat(planned["window"][1]),
    )
    app, target = tasks.session_name(), _target()
    with target.connect(application_name=app) as conn:
        major = server_major(conn)
    report = recover_to_point(
        plan,
        load_config().backups,
        folder_name="pitr-" + "".join(c if c.isalnum() else "-" for c in tasks.run_id()),
        port=planned["port"],
        keep_running=planned["keep_running"],
        template=target,
        server_major_version=major,
        wal_dest=_root() / WAL_FOLDER,
    )
    return log_task(plan.base_backup_id, report, application_name=app)
