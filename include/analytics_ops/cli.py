"""Command line for set-up work that is not a DAG: `python -m analytics_ops.cli migrate|load-demo`."""

from __future__ import annotations

import argparse
from datetime import date

from analytics_ops.core.db import connect
from analytics_ops.core.migrations import apply_migrations
from analytics_ops.demo.data import DemoScale, load_demo_data


def _migrate(_: argparse.Namespace) -> int:
    with connect(application_name="analytics-ops:migrate") as conn:
        result = apply_migrations(conn)
    print(f"migrations: applied {result.applied or 'none'}; {len(result.already_applied)} already applied")
    for name in result.changed_since_applied:
        print(f"WARNING: {name} changed after it was applied; write a new migration instead of editing it")
    return 0


def _load_demo(args: argparse.Namespace) -> int:
    scale = DemoScale(args.users, args.days, args.tasks_per_day, args.seed, args.last_day)
    with connect(application_name="analytics-ops:demo-data") as conn:
        result = load_demo_data(conn, scale, force=args.force)
    verb = "loaded" if result.loaded else "already loaded"
    print(
        f"demo data {verb}: {result.tasks:,} tasks, {result.scale.users:,} users, {result.scale.days} days "
        f"ending {result.scale.last_day} (seed {result.scale.seed}) in {result.seconds:.1f}s"
    )
    return 0


def _pool_spec(_: argparse.Namespace) -> int:
    # One line per Airflow pool the suite's DAGs use: "pool <name> <slots> <description>", read by
    # make airflow-db, scripts/celery.sh and compose's airflow-init to run `airflow pools set`.
    from analytics_ops.core.config import load_config

    config = load_config()
    for name, slots, description in (
        (config.mv_refresh.pool, config.mv_refresh.pool_slots, "materialized view refreshes"),
        (config.maintenance.pool, config.maintenance.pool_slots, "VACUUM, REINDEX and archival, one at a time"),
    ):
        print("pool", name, slots, f"analytics-ops: {description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="analytics_ops.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply sql/migrations to the analytics_db connection").set_defaults(func=_migrate)
    demo = sub.add_parser("load-demo", help="load deterministic demo data (replaces the demo tables)")
    demo.add_argument("--users", type=int, default=DemoScale.users)
    demo.add_argument("--days", type=int, default=DemoScale.days)
    demo.add_argument("--tasks-per-day", type=int, default=DemoScale.tasks_per_day)
    demo.add_argument("--seed", type=int, default=DemoScale.seed)
    demo.add_argument("--last-day", type=date.fromisoformat, default=None, help="YYYY-MM-DD, default yesterday")
    demo.add_argument("--force", action="store_true", help="reload even if the same dataset is there")
    demo.set_defaults(func=_load_demo)
    sub.add_parser("pool-spec", help="print the Airflow pools the suite uses, one per line").set_defaults(
        func=_pool_spec
    )
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
