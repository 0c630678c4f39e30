"""Cache clearing against the real Redis of the local stack: exactly the matching keys go, a dry run and
refused params delete nothing, and a run of the DAG records what it did."""

from __future__ import annotations

import pytest

from analytics_ops.cache.clearing import SAMPLE_KEYS, clear_keys, clear_request
from analytics_ops.core.config import load_config
from analytics_ops.core.params import ParamError
from tests.dag_runs import test_run
from tests.unit.test_cache_clear_params import BAD_PARAMS

FILLER = 2_500  # more than one SCAN batch and several UNLINK batches
# Keys nothing but scope analytics reaches, and keys no scope of merchant 1 reaches.
ANALYTICS = {"analytics:overview:1", "analytics:task_totals:2", "analytics:"} | {
    f"analytics:filler:{n}" for n in range(FILLER)
}
MERCHANT_1 = {"live:merchant:1:x", "live:merchant:1:tx_count", "live:merchant:1:"}
OTHERS = {
    "live:merchant:12:x",  # merchant 12: never reached by merchant 1
    "live:merchant:123:x",
    "live:merchant:21:x",
    "live:merchant:1",  # no separator after the id: not a counter of merchant 1
    "live:merchant:x:1",
    "live:session:1:x",
    "analyticsX:1",  # looks like the prefix but is not in it
    "Analytics:overview:1",
    "other:analytics:1",
    "sessions:abc",
    "queue:jobs",
}


@pytest.fixture
def planted(redis_db):
    pipe = redis_db.pipeline(transaction=False)
    for key in ANALYTICS | MERCHANT_1 | OTHERS:
        pipe.set(key, "1", ex=3600)
    pipe.hset("live:merchant:1:by_hour", mapping={"00": 3, "01": 4})  # another type goes the same way
    pipe.execute()
    return redis_db


def keys(redis_db) -> set[str]:
    return {k.decode() for k in redis_db.scan_iter(count=1000)}


def small_batches():
    # Several SCAN calls and UNLINK round trips even on a small keyspace.
    return load_config().cache.model_copy(update={"scan_count": 50, "unlink_batch": 97})


def test_scope_analytics_unlinks_exactly_the_analytics_cache(planted):
    request = clear_request({"scope": "analytics", "dry_run": False}, load_config().cache)
    result = clear_keys(planted, request.pattern, small_batches(), dry_run=False)

    assert result.unlinked == len(ANALYTICS)
    # Deleting shrinks Redis's table, and SCAN may then return a key twice: UNLINK finds it gone.
    assert result.matched == result.unlinked + result.already_gone
    assert keys(planted) == MERCHANT_1 | OTHERS | {"live:merchant:1:by_hour"}


class ScanTwice:
    """The real Redis, whose SCAN returns its first key a second time at the end (as SCAN may)."""

    def __init__(self, client):
        self.client = client

    def scan_iter(self, **kwargs):
        first = None
        for key in self.client.scan_iter(**kwargs):
            first = first or key
            yield key
        if first:
            yield first

    def pipeline(self, **kwargs):
        return self.client.pipeline(**kwargs)


def test_a_key_scan_returns_twice_is_unlinked_once_and_counted_once(planted):
    result = clear_keys(ScanTwice(planted), "live:merchant:1:*", small_batches(), dry_run=False)

    assert (result.matched, result.unlinked, result.already_gone) == (len(MERCHANT_1) + 2, len(MERCHANT_1) + 1, 1)
    assert len(result.sample) == len(set(result.sample)) == len(MERCHANT_1) + 1
    assert "(1 returned by SCAN were already gone" in result.summary()
    assert keys(planted) == ANALYTICS | OTHERS


def test_scope_merchant_1_unlinks_its_live_counters_and_not_merchant_12s(planted):
    request = clear_request({"scope": "merchant", "merchant_id": 1, "dry_run": False}, load_config().cache)
    result = clear_keys(planted, request.pattern, small_batches(), dry_run=False)

    assert result.unlinked == len(MERCHANT_1) + 1
    assert keys(planted) == ANALYTICS | OTHERS
    assert planted.get("live:merchant:12:x") == b"1"


def test_a_pattern_unlinks_what_it_matches_within_its_prefix(planted):
    result = clear_keys(planted, "live:merchant:1*:x", small_batches(), dry_run=False)

    assert result.unlinked == 3  # merchants 1, 12 and 123; 21 does not start with 1
    assert keys(planted) == (ANALYTICS | MERCHANT_1 | OTHERS | {"live:merchant:1:by_hour"}) - {
        "live:merchant:1:x",
        "live:merchant:12:x",
        "live:merchant:123:x",
    }


def test_a_dry_run_counts_and_shows_and_deletes_nothing(planted):
    before = keys(planted)

    result = clear_keys(planted, "analytics:*", small_batches(), dry_run=True)

    assert keys(planted) == before
    assert (result.matched, result.unlinked) == (len(ANALYTICS), 0)
    assert len(result.sample) == SAMPLE_KEYS and set(result.sample) <= ANALYTICS
    assert f"dry run: {len(ANALYTICS)} key(s) match 'analytics:*'" in result.summary()
    assert f"... and {len(ANALYTICS) - SAMPLE_KEYS} more" in result.summary()


def test_nothing_matching_is_no_error(redis_db):
    redis_db.set("sessions:abc", "x")
    result = clear_keys(redis_db, "analytics:*", small_batches(), dry_run=False)
    assert (result.matched, result.unlinked, result.sample) == (0, 0, [])
    assert redis_db.exists("sessions:abc")


@pytest.mark.parametrize(("given", "message"), BAD_PARAMS, ids=[str(i) for i in range(len(BAD_PARAMS))])
def test_refused_params_touch_nothing(planted, given, message):
    # What the DAG does, in its order: the request from the params, then the clearing.
    # Not a dry run (unless dry_run is what is wrong): were the params let through, keys would go.
    given = {**given, "dry_run": False} if isinstance(given["dry_run"], bool) else given
    before = keys(planted)
    with pytest.raises(ParamError) as refused:
        request = clear_request(given, load_config().cache)
        clear_keys(planted, request.pattern, load_config().cache, dry_run=request.dry_run)
    assert message in str(refused.value)
    assert keys(planted) == before


@pytest.mark.parametrize("pattern", ["*", "a*", "[al]*", "?nalytics:*", "analytics*", "live:*", "*merchant:1:*"])
def test_the_clearing_itself_refuses_a_pattern_outside_the_prefixes(planted, pattern):
    # The second lock: even called without clear_request, no key is reached.
    before = keys(planted)
    with pytest.raises(ParamError, match="could match keys outside the suite's prefixes"):
        clear_keys(planted, pattern, load_config().cache, dry_run=False)
    assert keys(planted) == before


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder="dags").get_dag("analytics_cache_clear")


def _logged(db, run) -> dict | None:
    row = db.execute(
        "SELECT subject, details FROM ops.run_log WHERE run_id = %s AND task_id = 'clear_keys'", (run.run_id,)
    ).fetchone()
    return row and {"subject": row[0], **row[1]}


@pytest.mark.airflow_run
def test_dag_runs_dry_by_default_then_clears_one_merchant(planted, db, slack):
    before = keys(planted)

    dry = test_run(_dag())  # the defaults: scope analytics, dry run

    assert dry.state == "success"
    assert keys(planted) == before
    logged = _logged(db, dry)
    assert logged["subject"] == "analytics:*"
    assert logged["dry_run"] is True and logged["scope"] == "analytics"
    assert (logged["matched"], logged["unlinked"]) == (len(ANALYTICS), 0)
    assert len(logged["sample"]) == SAMPLE_KEYS and set(logged["sample"]) <= ANALYTICS

    run = test_run(_dag(), run_conf={"scope": "merchant", "merchant_id": 1, "dry_run": False})

    assert run.state == "success"
    assert keys(planted) == ANALYTICS | OTHERS
    logged = _logged(db, run)
    assert logged["subject"] == "live:merchant:1:*"
    assert (logged["dry_run"], logged["merchant_id"], logged["unlinked"]) == (False, 1, len(MERCHANT_1) + 1)


@pytest.mark.airflow_run
@pytest.mark.parametrize(
    "conf",
    [
        {"scope": "pattern", "pattern": "*", "dry_run": False},
        {"scope": "pattern", "pattern": "[al]*", "dry_run": False},
        {"scope": "merchant", "dry_run": False},
        {"scope": "analytics", "merchant_id": 12, "dry_run": False},
        {"scope": "analytics", "dry_run": False, "patern": "analytics:overview:*"},  # a typo'd key
    ],
    ids=["star", "bracket", "merchant_without_id", "id_without_merchant", "unknown_key"],
)
def test_a_refused_dag_run_touches_nothing_and_records_nothing(planted, db, slack, conf):
    before = keys(planted)
    logged = db.execute("SELECT count(*) FROM ops.run_log").fetchone()[0]

    run = test_run(_dag(), run_conf=conf)

    assert run.state == "failed"
    found = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert found == {"check_params": "failed", "clear_keys": "upstream_failed"}, found
    assert keys(planted) == before
    assert db.execute("SELECT count(*) FROM ops.run_log").fetchone()[0] == logged
    assert "run refused its params" in slack.texts()[-1]


@pytest.mark.airflow_run
def test_the_form_refuses_what_the_params_schema_forbids(planted):
    from airflow.sdk.exceptions import ParamValidationError

    before = keys(planted)
    for conf in ({"scope": "all"}, {"scope": "merchant", "merchant_id": 0}, {"dry_run": "no"}):
        with pytest.raises(ParamValidationError):
            test_run(_dag(), run_conf=conf)
    assert keys(planted) == before
