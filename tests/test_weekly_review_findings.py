"""The weekly review's dead-tuple, bloat and unused-index findings, on a real table made worn.

`review_t` (autovacuum off) gets 60,000 rows and a non-unique index, then loses 90% of its rows:
real dead tuples, a table mostly dead space, and (once vacuumed) index leaf pages mostly empty.
Each check runs as its task runs it (`evaluate` of its `WEEKLY_CHECKS` entry).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from analytics_ops.core.config import load_config
from analytics_ops.health.framework import OK, WARN, CheckContext, CheckResult, evaluate
from analytics_ops.health.weekly_review import WEEKLY_CHECKS
from tests.conftest import TEST_DB, admin_connect

WEEKLY = "analytics_weekly_review"
ROWS = 60_000


def review(task_id: str) -> dict[str, CheckResult]:
    [weekly] = [c for c in WEEKLY_CHECKS if c.task_id == task_id]
    results = evaluate(weekly, CheckContext(load_config(), WEEKLY, "findings", task_id, datetime.now(UTC)))
    return {r.check_name: r for r in results}


def wait_for_statistics(db, query: str, done: Callable[[tuple], bool], what: str, params: tuple = ()) -> None:
    """Backends report their statistics asynchronously (at session end, or within seconds)."""
    timeout = 20.0
    deadline = time.monotonic() + timeout
    while not done(row := db.execute(query, params).fetchone()):
        if time.monotonic() > deadline:
            pytest.fail(f"the statistics never showed {what} within {timeout:g}s (last: {row})")
        time.sleep(0.2)


@pytest.fixture
def worn_table(empty_tasks):
    """`review_t`, 90% of its rows deleted, by a session that has ended (so its statistics are sent)."""
    db = empty_tasks
    with admin_connect(TEST_DB) as arranger:
        arranger.execute("DROP TABLE IF EXISTS review_t")
        arranger.execute(
            "CREATE TABLE review_t (id bigint PRIMARY KEY, v text NOT NULL) WITH (autovacuum_enabled = false)"
        )
        arranger.execute("INSERT INTO review_t SELECT g, md5(g::text) FROM generate_series(1, %s) AS g", (ROWS,))
        arranger.execute("CREATE INDEX review_t_v_idx ON review_t (v)")
        with arranger.transaction():
            arranger.execute("DELETE FROM review_t WHERE id % 10 <> 0")
            deleted_by = arranger.execute("SELECT txid_current()").fetchone()[0]
    wait_for_statistics(
        db,
        "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relid = 'review_t'::regclass",
        lambda row: row == (ROWS // 10, ROWS * 9 // 10),
        "review_t's live and dead tuples",
    )
    yield db, deleted_by
    db.execute("DROP TABLE IF EXISTS review_t")


def test_a_table_mostly_dead_tuples_is_a_dead_tuple_and_a_bloat_finding(worn_table, override_config):
    db, _ = worn_table
    # Measured tables of at least 1 MB: review_t is about 4 MB, the emptied task tables far less.
    override_config({"weekly_review": {"table_bloat_min_bytes": 1024 * 1024}})

    dead = review("review_dead_tuples")["dead_tuples"]
    assert dead.status == WARN and dead.numeric_value == 90.0, dead
    assert "public.review_t 90% (54000 dead)" in dead.detail, dead.detail
    assert dead.value.endswith("table(s) over the limit; highest ratio 90%")
    assert dead.threshold == "warn at 20% dead with at least 10000 dead tuples (maintenance section)"

    tables = review("review_bloat")["bloat:tables"]
    assert tables.status == WARN, tables
    [item] = [i for i in tables.detail.split("; ") if i.startswith("public.review_t ")]
    assert int(item.rsplit(" ", 1)[1].rstrip("%")) >= 50, item  # 90% of the tuples are dead (a fresh table: ~10%)
    assert tables.threshold == "warn at 30% estimated bloat, tables of at least 1.0 MB"


def test_an_index_with_mostly_empty_leaf_pages_is_a_bloat_finding(worn_table, override_config):
    db, deleted_by = worn_table
    override_config({"maintenance": {"min_index_bytes": 1024 * 1024}})  # review_t_v_idx is about 3 MB
    before = review("review_bloat")["bloat:indexes"]
    assert "public.review_t_v_idx" not in before.detail, before  # deleted rows still have their entries

    # With hot_standby_feedback the replica's slot holds back what VACUUM may remove until its
    # feedback passes the delete.
    wait_for_statistics(
        db,
        "SELECT count(*) FROM pg_replication_slots WHERE xmin IS NOT NULL AND xmin::text::bigint <= %s",
        lambda row: row[0] == 0,
        "no replication slot holding back the delete",
        (deleted_by,),
    )
    db.execute("VACUUM review_t")  # removes the entries, leaves the leaf pages 10% full

    indexes = review("review_bloat")["bloat:indexes"]
    assert indexes.status == WARN, indexes
    [item] = [i for i in indexes.detail.split("; ") if i.startswith("public.review_t_v_idx ")]
    assert int(item.rsplit(" ", 1)[1].rstrip("%")) >= 70, item
    assert indexes.threshold == "warn at 30% (the weekly maintenance REINDEXes them), indexes of at least 1.0 MB"

    db.execute("REINDEX INDEX review_t_v_idx")
    assert "public.review_t_v_idx" not in review("review_bloat")["bloat:indexes"].detail


def test_an_index_never_scanned_is_a_finding_until_a_query_uses_it(worn_table):
    db, _ = worn_table
    found = review("review_unused_indexes")["unused_indexes"]
    assert found.status == WARN, found
    assert "public.review_t_v_idx on review_t (" in found.detail, found.detail
    assert "review_t_pkey" not in found.detail  # a primary key enforces a constraint: never "unused"
    assert found.threshold == "warn for a non-unique index of at least 1.0 MB never scanned"
    assert found.value.startswith(f"{int(found.numeric_value)} never scanned since ")

    with admin_connect(TEST_DB) as reader:  # ended, so its index scan is reported
        reader.execute("SET enable_seqscan = off")
        reader.execute("SELECT count(*) FROM review_t WHERE v = md5('10')")
    wait_for_statistics(
        db,
        "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelid = 'review_t_v_idx'::regclass",
        lambda row: row[0] > 0,
        "the scan of review_t_v_idx",
    )
    after = review("review_unused_indexes")["unused_indexes"]
    assert "review_t_v_idx" not in after.detail and after.numeric_value == found.numeric_value - 1
    assert after.status == (WARN if after.numeric_value else OK)
