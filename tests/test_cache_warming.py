"""Cache warming against the real primary, replica and Redis, checked against Python over the rows."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from analytics_ops.cache.warming import (
    WarmWindow,
    active_users,
    chunk,
    remove_keys_without_ttl,
    warm_chunk,
)
from analytics_ops.core.config import CACHE_METRICS, load_config
from analytics_ops.core.db import connect
from tests.conftest import wait_for_replica
from tests.dag_runs import test_run
from tests.task_rows import PENALTY, PRIORITIES, STATUSES, WEIGHTS, insert_tasks, random_tasks

AS_OF = datetime(2025, 3, 8, 6, 0, tzinfo=UTC)
DAYS = [date(2025, 2, 20) + timedelta(days=n) for n in range(18)]  # spans before and after the window
USERS = 40


@pytest.fixture
def tasks(empty_tasks):
    rows = random_tasks(random.Random(77), users=USERS, days=DAYS, per_day=25)
    insert_tasks(empty_tasks, rows, users=USERS)
    wait_for_replica()  # the cache reads from the replica
    return rows


def _r2(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def expected_cache(tasks, as_of: datetime, days: int = 7) -> dict[int, dict]:
    """Per active user, the five metrics as the definitions in the DAG doc describe them."""
    since = as_of - timedelta(days=days)
    live = [t for t in tasks if not t.deleted]
    active = {t.user_id for t in live if since <= (t.completed_at or t.created_at) < as_of}
    by_user = defaultdict(list)
    for t in live:
        by_user[t.user_id].append(t)
    result = {}
    for user in active:
        mine = by_user[user]
        status = {s: sum(t.status == s for t in mine) for s in STATUSES}
        open_ = status["todo"] + status["in_progress"]
        weight = sum(
            (WEIGHTS[t.priority] for t in mine if t.completed_at and since <= t.completed_at < as_of), Decimal(0)
        )
        went_overdue = sum(
            1
            for t in mine
            if t.due_at
            and since <= t.due_at < as_of
            and t.status != "cancelled"
            and (t.completed_at is None or t.completed_at > t.due_at)
        )
        result[user] = {
            "task_totals": {
                "total": len(mine),
                "done": status["done"],
                "open": open_,
                "cancelled": status["cancelled"],
                "overdue": sum(
                    1 for t in mine if t.status in ("todo", "in_progress") and t.due_at and t.due_at < as_of
                ),
            },
            "completion_rate": {"completion_rate": _r2(Decimal(100) * status["done"] / len(mine))},
            "priority_distribution": {p: sum(t.priority == p for t in mine) for p in PRIORITIES},
            "status_distribution": status,
            "productivity_score": {
                "productivity_score": _r2(max(Decimal(0), weight - PENALTY * went_overdue)),
                "days": days,
            },
        }
    return result


def cached(redis_db, user_id: int) -> dict[str, dict]:
    values = {}
    for metric in CACHE_METRICS:
        raw = redis_db.get(f"analytics:{metric}:{user_id}")
        value = json.loads(raw)
        assert value.pop("as_of") == AS_OF.isoformat()
        values[metric] = value
    return values


def warm(redis_client, top_users=None, chunk_users=15) -> tuple[list[int], int]:
    config = load_config()
    window = WarmWindow.ending(AS_OF, config.cache.active_days)
    with connect(config.connections.replica) as conn:
        users = active_users(conn, window, top_users)
        written = sum(
            warm_chunk(conn, redis_client, ids, window, config).keys_written for ids in chunk(users, chunk_users)
        )
    return users, written


def test_cached_values_equal_an_independent_computation(tasks, redis_db):
    expected = expected_cache(tasks, AS_OF)
    users, written = warm(redis_db)

    assert sorted(users) == sorted(expected)
    assert written == len(users) * 6
    for user in users:
        assert cached(redis_db, user) == expected[user], user
        overview = json.loads(redis_db.get(f"analytics:overview:{user}"))
        assert overview["user_id"] == user and set(overview) == {"user_id", "as_of", *CACHE_METRICS}
    assert redis_db.dbsize() == len(users) * 6  # inactive users are not cached
    ttls = {redis_db.ttl(k) for k in redis_db.scan_iter("analytics:*")}
    assert all(0 < ttl <= 7 * 3600 for ttl in ttls)


def test_rewarming_gives_the_same_values(tasks, redis_db):
    warm(redis_db)
    first = {k: redis_db.get(k) for k in redis_db.scan_iter("analytics:*")}
    redis_db.flushdb()
    warm(redis_db, chunk_users=7)
    assert {k: redis_db.get(k) for k in redis_db.scan_iter("analytics:*")} == first


def test_top_users_warms_only_the_most_active(tasks, redis_db):
    since = AS_OF - timedelta(days=7)
    activity = defaultdict(int)
    for t in tasks:
        if not t.deleted and since <= (t.completed_at or t.created_at) < AS_OF:
            activity[t.user_id] += 1
    ranked = sorted(activity, key=lambda u: (-activity[u], u))

    users, written = warm(redis_db, top_users=5)

    assert users == ranked[:5]
    assert written == 30


def test_hygiene_deletes_only_matching_keys_without_ttl(redis_db):
    redis_db.set("analytics:overview:1", "{}")  # no TTL: goes
    redis_db.set("analytics:task_totals:2", "{}")  # no TTL: goes
    redis_db.set("analytics:task_totals:3", "{}", ex=600)  # TTL: stays
    redis_db.set("sessions:abc", "x")  # not ours: stays
    for n in range(2500):  # more than one SCAN batch
        redis_db.set(f"analytics:filler:{n}", "x", ex=600)

    dry = remove_keys_without_ttl(redis_db, load_config().cache, dry_run=True)
    assert dry == {"scanned": 2503, "without_ttl": 2, "deleted": 0}
    assert redis_db.exists("analytics:overview:1")

    swept = remove_keys_without_ttl(redis_db, load_config().cache)

    assert swept == {"scanned": 2503, "without_ttl": 2, "deleted": 2}
    assert not redis_db.exists("analytics:overview:1", "analytics:task_totals:2")
    assert redis_db.exists("analytics:task_totals:3", "sessions:abc") == 2


def test_a_write_that_fails_half_way_leaves_no_key_without_ttl(tasks, redis_db, override_config):
    override_config({"cache": {"pipeline_commands": 5}})  # small round trips: memory fills mid-chunk
    info = redis_db.config_get("maxmemory*")
    redis_db.config_set("maxmemory-policy", "noeviction")
    keys: list[bytes] = []
    try:
        # Room for some keys but not all; used_memory moves a little, so widen until keys landed.
        for margin in (40_000, 80_000, 160_000):
            redis_db.flushdb()
            redis_db.config_set("maxmemory", str(int(redis_db.info("memory")["used_memory"]) + margin))
            with pytest.raises(Exception, match="maxmemory"):
                warm(redis_db, chunk_users=5)
            keys = list(redis_db.scan_iter("analytics:*"))
            if keys:
                break
    finally:
        redis_db.config_set("maxmemory", info["maxmemory"])
        redis_db.config_set("maxmemory-policy", info["maxmemory-policy"])
    assert keys, "the failure came before any write: the test proves nothing"
    assert all(redis_db.ttl(k) > 0 for k in keys)


@pytest.mark.airflow_run
def test_dag_run_warms_reports_and_honours_dry_run(tasks, redis_db, db, slack):
    from airflow.dag_processing.dagbag import DagBag

    def dag():
        return DagBag(dag_folder="dags").get_dag("analytics_cache_warming")

    dry = test_run(dag(), logical_date=AS_OF, run_conf={"dry_run": True})
    assert dry.state == "success"
    assert redis_db.dbsize() == 0

    run = test_run(dag(), logical_date=AS_OF + timedelta(seconds=1), run_conf={"top_users": 3})
    assert run.state == "success"
    assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()}["report"] == "success"
    report = db.execute(
        "SELECT details FROM ops.run_log WHERE run_id = %s AND task_id = 'report'", (run.run_id,)
    ).fetchone()[0]
    assert report["users_warmed"] == 3 and report["keys_written"] == 18
    assert report["maxmemory_bytes"] > 0 and report["memory_used_pct"] is not None
    assert redis_db.dbsize() == 18

    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="top_users"):
        test_run(dag(), run_conf={"top_users": 0})


@pytest.mark.airflow_run
def test_redis_down_retries_then_escalates(tasks, redis_db, slack, override_config, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    override_config({"dag_defaults": {"retries": 1, "retry_delay": "1s", "max_retry_delay": "1s"}})
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_REDIS", '{"conn_type": "redis", "host": "127.0.0.1", "port": 1}')

    run = test_run(DagBag(dag_folder="dags").get_dag("analytics_cache_warming"), logical_date=AS_OF)

    assert run.state == "failed"
    texts = slack.texts()
    assert any(t.startswith(":warning: *analytics_cache_warming.warm_chunk[0]* failed on try 1 of 2") for t in texts)
    final = [t for t in texts if "[P2] analytics_cache_warming.warm_chunk[0] failed" in t]
    assert final and "ConnectionError" in final[0] and "*What to do:*" in final[0]
