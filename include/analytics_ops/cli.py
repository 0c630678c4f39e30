"""The `analytics-ops` command: set-up work that is not a DAG.

Installed with the wheel as `analytics-ops` (also `python -m analytics_ops.cli`): `check-config`,
`bootstrap`, `migrate`, `install-dags`, `version`, and for this checkout's tools `load-demo` and
`pool-spec`. Every command exits non-zero with a one-line reason when it cannot do its work.
Secrets (passwords) come from the environment and Airflow connections, never from arguments.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from datetime import date
from importlib import metadata
from pathlib import Path

from analytics_ops import dag_folder
from analytics_ops.core.config import ConfigError, config_path, parse_config
from analytics_ops.core.db import connect
from analytics_ops.core.migrations import apply_migrations
from analytics_ops.core.package_files import shipped_folder
from analytics_ops.demo.data import DemoScale, load_demo_data

BOOTSTRAP_PASSWORDS = ("ANALYTICS_OPS_PASSWORD", "ANALYTICS_REPLICATION_PASSWORD")


class CommandError(Exception):
    """What a command could not do, said in one line (printed, exit status 1)."""


def _version(_: argparse.Namespace) -> int:
    def installed(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    print(
        f"analytics-ops {installed('analytics-ops')} (Airflow {installed('apache-airflow')}, "
        f"Python {sys.version.split()[0]}; package {Path(__file__).resolve().parent})"
    )
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from analytics_ops.alerting.rules import validate_rules  # the check framework: only for this command

    path = Path(args.path) if args.path else config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        config = parse_config(text, path)
    except ConfigError as exc:
        # One line per problem, each naming its key (core.config._describe).
        print(exc, file=sys.stderr)
        return 1
    try:
        validate_rules(config)  # as the evaluator DAG's parse does: every rule names a known check
    except ValueError as exc:
        print(f"invalid config {path}:\n  {exc}", file=sys.stderr)
        return 1
    print(f"{path}: valid ({len(config.dags)} DAG entries, primary connection {config.connections.primary!r})")
    return 0


def _bootstrap(args: argparse.Namespace) -> int:
    script = shipped_folder("deploy") / "bootstrap.sh"
    sql_dir = shipped_folder("sql") / "bootstrap"
    if not args.apply:
        print(f"-- The superuser bootstrap of the role model (docs/roles.md), as {script} runs it with psql:")
        print("--   psql variables ops_role, replication_role, maintained_owners; the passwords from the")
        print(f"--   environment ({', '.join(BOOTSTRAP_PASSWORDS)}); cluster.sql once, database.sql per database.")
        print("-- Apply it as a superuser: PGHOST=... PGUSER=postgres analytics-ops bootstrap --apply")
        for name in ("cluster.sql", "database.sql"):
            print(f"\n-- {sql_dir / name}\n")
            print((sql_dir / name).read_text(encoding="utf-8"), end="")
        return 0
    missing = [name for name in BOOTSTRAP_PASSWORDS if not os.environ.get(name)]
    if missing:
        raise CommandError(f"bootstrap --apply needs {' and '.join(missing)} in the environment (never an argument)")
    if shutil.which("psql") is None:
        raise CommandError(
            "bootstrap --apply runs psql: install PostgreSQL's client (apt-get install postgresql-client)"
        )
    env = {**os.environ, "AOPS_BOOTSTRAP_SQL_DIR": str(sql_dir)}
    return subprocess.run(["bash", str(script)], env=env, check=False).returncode


def _install_dags(args: argparse.Namespace) -> int:
    folder = Path(args.dags_folder).expanduser()
    if not folder.is_dir():
        raise CommandError(f"DAG folder {folder} does not exist")
    if args.config is not None and _check_config(argparse.Namespace(path=args.config)) != 0:
        raise CommandError(f"not written: {args.config} is not a valid config (problems above)")
    try:
        text = dag_folder.loader_file(enabled=args.dags, config=args.config)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    target = folder / dag_folder.LOADER_FILE_NAME
    if target.exists() and target.read_text(encoding="utf-8") != text and not args.force:
        raise CommandError(f"{target} exists with other settings: --force replaces it")
    target.write_text(text, encoding="utf-8")
    chosen = dag_folder.check_enabled(args.dags)
    print(f"wrote {target}: {len(chosen)} DAGs, config {args.config or 'ANALYTICS_OPS_CONFIG or the packaged default'}")
    return 0


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analytics-ops",
        description="Set-up work of the analytics-ops Airflow suite that is not a DAG (README: "
        '"Add the suite to an existing Airflow"). `analytics-ops COMMAND --help` for each.',
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser(
        "check-config",
        help="validate a config file: every problem with its key, exit 1 if any",
        description="Validate the suite's config file (PATH, else $ANALYTICS_OPS_CONFIG, else the packaged "
        "default) as the DAGs will: every problem is printed with its key, and the exit status is 1.",
    )
    check.add_argument("path", nargs="?", help="the config file (default: $ANALYTICS_OPS_CONFIG or the packaged one)")
    check.set_defaults(func=_check_config)
    boot = sub.add_parser(
        "bootstrap",
        help="print (default) or --apply the superuser bootstrap of the role model (docs/roles.md)",
        description="The one superuser bootstrap: the suite's limited role, the replication role, extensions, "
        "grants (and pg_hba.conf lines with PGDATA set). Without --apply: print its SQL. With --apply: run it "
        "with psql as the superuser libpq's environment names (PGHOST, PGPORT, PGUSER, PGPASSWORD or "
        "~/.pgpass); reads ANALYTICS_OPS_PASSWORD and ANALYTICS_REPLICATION_PASSWORD (required), "
        "ANALYTICS_DB, ANALYTICS_OPS_ROLE, ANALYTICS_REPLICATION_ROLE, ANALYTICS_MAINTAINED_OWNERS, "
        "ANALYTICS_HBA_ADDRESS from the environment. Idempotent.",
    )
    boot.add_argument("--apply", action="store_true", help="run it against the server (default: print the SQL)")
    boot.set_defaults(func=_bootstrap)
    sub.add_parser(
        "migrate",
        help="apply the schema's migrations (sql/migrations) to the analytics_db connection",
        description="Apply the packaged migrations, each once, as the suite's role, through the Airflow "
        "connection `connections.primary` (AIRFLOW_CONN_ANALYTICS_DB or Airflow's secrets backend).",
    ).set_defaults(func=_migrate)
    install = sub.add_parser(
        "install-dags",
        help=f"write the DAG-folder file ({dag_folder.LOADER_FILE_NAME}) that loads the suite's DAGs",
        description=f"Write {dag_folder.LOADER_FILE_NAME} into an Airflow DAG folder: one small documented file "
        "that yields the suite's DAGs from the installed package, with the config file and the DAGs you choose.",
    )
    install.add_argument("--dags-folder", required=True, help="the Airflow DAG folder ([core] dags_folder)")
    install.add_argument(
        "--config",
        help="the suite's config file the DAGs use (validated first; default: "
        "$ANALYTICS_OPS_CONFIG at parse time, else the packaged default)",
    )
    install.add_argument("--dags", nargs="+", metavar="DAG_ID", help="load only these DAGs (default: every one)")
    install.add_argument("--force", action="store_true", help="replace an existing file with other settings")
    install.set_defaults(func=_install_dags)
    sub.add_parser("version", help="print the package's, Airflow's and Python's versions").set_defaults(func=_version)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (CommandError, ConfigError) as exc:
        print(f"analytics-ops {args.command}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # A server that cannot be reached, a connection id Airflow does not know: one line, the
        # exception's own message (libpq's and Airflow's name no password), exit status 1.
        if type(exc).__name__ not in ("OperationalError", "AirflowNotFoundException", "ConnectionError"):
            raise
        print(f"analytics-ops {args.command}: {type(exc).__name__}: {exc}".rstrip(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
