"""What every benchmark shares: a scratch database on the local stack, psql as the raw baseline,
and timing by median of alternating trials (so drift on the machine hits both sides alike)."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from psycopg import sql


def admin_connect(dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=int(os.environ["AOPS_LOCAL_PG_PORT"]),
        user=os.environ["AOPS_LOCAL_PG_USER"],
        password=os.environ["AOPS_LOCAL_PG_PASSWORD"],
        dbname=dbname,
        autocommit=True,
    )


def checkpoint() -> None:
    """CHECKPOINT between trials, so each starts with the same dirty buffers. Arranging, not measured:
    only a superuser (or pg_checkpoint) may, so it is the one session a benchmark opens as the stack's
    superuser; everything measured connects as the suite's limited role."""
    import psycopg

    password = open(os.path.join(os.environ["AOPS_STACK_DIR"], "secrets", "pg_password")).read().strip()
    with psycopg.connect(
        host="127.0.0.1",
        port=int(os.environ["AOPS_LOCAL_PG_PORT"]),
        user=os.environ["AOPS_LOCAL_SUPERUSER"],
        password=password,
        dbname="postgres",
        autocommit=True,
        application_name="aops-bench-superuser",
    ) as conn:
        conn.execute("CHECKPOINT")


def use_database(dbname: str) -> None:
    """Point the suite's `analytics_db` connection at `dbname` on the local primary."""
    import json

    os.environ["AIRFLOW_CONN_ANALYTICS_DB"] = json.dumps(
        {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": int(os.environ["AOPS_LOCAL_PG_PORT"]),
            "login": os.environ["AOPS_LOCAL_PG_USER"],
            "password": os.environ["AOPS_LOCAL_PG_PASSWORD"],
            "schema": dbname,
        }
    )


def drop_bench_databases() -> list[str]:
    """Drop every aops_bench_* database: the volumes the benchmarks generate (10 million transactions,
    a million usage events) and the WAL they wrote are gigabytes a development stack should not keep."""
    with admin_connect() as conn:
        conn.autocommit = True
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'aops\\_bench\\_%'")]
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    return names


def ensure_database(dbname: str) -> bool:
    """Create `dbname` with the schema applied; True if it was created now."""

    from analytics_ops.core.db import connect
    from analytics_ops.core.migrations import apply_migrations

    with admin_connect() as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
    if not exists:
        # The deployment's superuser bootstrap creates it, owned by the suite's limited role (which
        # is what every benchmark connects as: AOPS_LOCAL_PG_USER), with its extensions.
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        subprocess.run([os.path.join(root, "scripts", "stack.sh"), "bootstrap-db", dbname], check=True)
    use_database(dbname)
    with connect() as conn:
        apply_migrations(conn)
    return not exists


def psql(dbname: str, script: str) -> None:
    """Run `script` in psql against `dbname`; the password travels in the environment, not argv."""
    env = {**os.environ, "PGPASSWORD": os.environ["AOPS_LOCAL_PG_PASSWORD"]}
    subprocess.run(
        [
            os.path.join(os.environ.get("AOPS_LOCAL_PG_BIN", "/usr/bin"), "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            os.environ["AOPS_LOCAL_PG_PORT"],
            "-U",
            os.environ["AOPS_LOCAL_PG_USER"],
            "-d",
            dbname,
        ],
        input=script,
        text=True,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def render(statement: Any, params: dict[str, Any]) -> str:
    """A statement with its parameters inlined, as someone would type it into psql."""
    from psycopg import ClientCursor

    with admin_connect() as conn, ClientCursor(conn) as cur:
        return cur.mogrify(statement, params)


@contextmanager
def timer() -> Any:
    box = {}
    start = time.perf_counter()
    yield box
    box["seconds"] = time.perf_counter() - start


def alternate(
    ours: Callable[[], None], baseline: Callable[[], None], reset: Callable[[], None], trials: int = 3
) -> tuple[float, float]:
    """Median seconds of `ours` and of `baseline`, run alternately, each after `reset()`."""
    ours_times, base_times = [], []
    for trial in range(trials):
        order = [(ours, ours_times), (baseline, base_times)]
        if trial % 2:
            order.reverse()
        for func, times in order:
            reset()
            start = time.perf_counter()
            func()
            times.append(time.perf_counter() - start)
    return statistics.median(ours_times), statistics.median(base_times)


def report(name: str, ours: float, baseline: float, target: str, passed: bool, note: str = "") -> dict[str, Any]:
    ratio = ours / baseline
    line = (
        f"{name}: ours {ours:.3f}s, baseline {baseline:.3f}s, ratio {ratio:.2f}x (target {target}) "
        f"{'PASS' if passed else 'MISS'}"
    )
    if note:
        line += f" [{note}]"
    print(line, flush=True)
    return {"name": name, "ours": ours, "baseline": baseline, "ratio": ratio, "target": target, "passed": passed}
