"""Materialized-view refresh against the real primary: prerequisites, overlap, readers never blocked."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from analytics_ops.core.config import ConfigError, parse_config
from analytics_ops.core.db import connect
from analytics_ops.mv.refresh import ViewNotRefreshable, refresh_view
from tests.conftest import admin_connect
from tests.dag_runs import test_run


@pytest.fixture
def views(db):
    db.execute("DROP MATERIALIZED VIEW IF EXISTS mv_big, mv_no_index, mv_never_populated")
    db.execute(
        "CREATE MATERIALIZED VIEW mv_big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 600000) AS g"
    )
    db.execute("CREATE UNIQUE INDEX ON mv_big (id)")
    db.execute("CREATE MATERIALIZED VIEW mv_no_index AS SELECT g AS id FROM generate_series(1, 10) AS g")
    db.execute("CREATE UNIQUE INDEX ON mv_no_index ((id * 2))")  # an expression index does not qualify
    db.execute(
        "CREATE MATERIALIZED VIEW mv_never_populated AS SELECT g AS id FROM generate_series(1, 5) AS g WITH NO DATA"
    )
    db.execute("CREATE UNIQUE INDEX ON mv_never_populated (id)")
    yield db
    db.execute("DROP MATERIALIZED VIEW IF EXISTS mv_big, mv_no_index, mv_never_populated")


def refresh(view: str):
    with connect() as conn:
        return refresh_view(conn, view)


def test_first_refresh_is_plain_then_concurrent(views):
    first = refresh("mv_never_populated")
    assert (first.view, first.mode, first.rows) == ("public.mv_never_populated", "plain (first population)", 5)
    assert refresh("mv_never_populated").mode == "concurrent"


def test_a_view_without_a_plain_unique_index_is_refused_with_the_fix(views):
    with pytest.raises(ViewNotRefreshable) as refused:
        refresh("mv_no_index")
    message = str(refused.value)
    assert "public.mv_no_index has no unique index on plain columns" in message
    assert "CREATE UNIQUE INDEX CONCURRENTLY ON public.mv_no_index" in message


def test_a_missing_view_is_named(views):
    with pytest.raises(ViewNotRefreshable, match="public.no_such_view is not a materialized view"):
        refresh("no_such_view")


def test_a_refresh_never_overlaps_another_of_the_same_view(views):
    with admin_connect("aops_test") as other:
        other.autocommit = False
        other.execute("SELECT pg_advisory_xact_lock(4202, hashtext('public.mv_big'))")
        with pytest.raises(RuntimeError, match="public.mv_big is already being refreshed"):
            refresh("mv_big")
        other.rollback()
    assert refresh("mv_big").rows == 600000


def _read_while(action, lock_timeout_ms: int = 300) -> tuple[int, list[str]]:
    """Run `action` while another session reads mv_big in a loop with a short lock timeout."""
    done = threading.Event()
    reads, errors = [0], []

    def reader() -> None:
        with admin_connect("aops_test") as conn:
            conn.execute(f"SET lock_timeout = {lock_timeout_ms}")
            while not done.is_set():
                try:
                    conn.execute("SELECT count(*) FROM mv_big WHERE id % 1000 = 0").fetchone()
                    reads[0] += 1
                except psycopg.errors.LockNotAvailable as exc:
                    errors.append(str(exc))
                time.sleep(0.01)

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.2)
    try:
        action()
    finally:
        done.set()
        thread.join()
    return reads[0], errors


def test_readers_are_never_blocked_by_a_concurrent_refresh(views):
    reads, errors = _read_while(lambda: refresh("mv_big"))
    assert errors == []
    assert reads > 5, "the reader barely ran: the test proves nothing"

    # The same reader against a plain refresh is blocked: the test can tell the difference.
    def plain() -> None:
        with admin_connect("aops_test") as conn:
            conn.execute("REFRESH MATERIALIZED VIEW mv_big")

    _, blocked = _read_while(plain)
    assert blocked and "lock timeout" in blocked[0]


def test_refreshes_are_recorded_in_the_run_log(views, db):
    db.execute("DELETE FROM ops.run_log WHERE task_id = 'refresh_view'")
    from airflow.dag_processing.dagbag import DagBag

    run = test_run(DagBag(dag_folder="dags").get_dag("analytics_mv_refresh"))
    assert run.state == "success"
    logged = db.execute(
        "SELECT subject, details->>'mode', (details->>'rows')::bigint FROM ops.run_log "
        "WHERE task_id = 'refresh_view' AND run_id = %s ORDER BY subject",
        (run.run_id,),
    ).fetchall()
    assert [row[0] for row in logged] == [
        "public.user_monthly_trends",
        "public.user_priority_distribution",
        "public.user_status_distribution",
        "public.user_task_stats",
    ]
    assert all(mode == "concurrent" for _, mode, _ in logged)
    counts = {r[0]: r[1] for r in db.execute("SELECT 'public.user_task_stats', count(*) FROM user_task_stats")}
    assert dict((s, n) for s, _, n in logged)["public.user_task_stats"] == counts["public.user_task_stats"]


def test_a_view_in_two_groups_is_a_config_error():
    text = "mv_refresh:\n  groups:\n    a: {views: [v1, v2]}\n    b: {views: [v2]}\n"
    with pytest.raises(ConfigError, match="view v2 is in groups a and b: refreshes would overlap"):
        parse_config(text, Path("x.yaml"))
