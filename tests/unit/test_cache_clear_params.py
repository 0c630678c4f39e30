"""Cache clearing's params and patterns (pure logic, no services): which keys a run may reach."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from analytics_ops.cache.clearing import clear_request
from analytics_ops.core.config import ConfigError, load_config, parse_config
from analytics_ops.core.key_patterns import literal_start, outside_prefixes
from analytics_ops.core.params import ParamError

PREFIXES = ["analytics:", "live:merchant:"]
SETTINGS = load_config().cache


def params(**given):
    return {"scope": "analytics", "merchant_id": None, "pattern": None, "dry_run": True, **given}


@pytest.mark.parametrize(
    ("pattern", "start"),
    [
        ("analytics:*", "analytics:"),
        ("analytics:overview:1", "analytics:overview:1"),
        ("live:merchant:1?:*", "live:merchant:1"),
        ("a[bc]d", "a"),
        ("analytics:\\*", "analytics:"),
        ("*", ""),
    ],
)
def test_the_literal_start_ends_at_the_first_glob_character(pattern, start):
    assert literal_start(pattern) == start


@pytest.mark.parametrize(
    "pattern",
    [
        "analytics:*",
        "analytics:overview:*",
        "analytics:*:42",
        "live:merchant:*",
        "live:merchant:1[0-9]:*",
        "analytics:x",
    ],
)
def test_patterns_within_the_prefixes_pass(pattern):
    assert outside_prefixes(pattern, PREFIXES) is None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("*", "starts with a glob character"),
        ("a*", "only 'a' is literal"),
        ("[al]*", "starts with a glob character"),
        ("?nalytics:*", "starts with a glob character"),
        ("analytics*", "only 'analytics' is literal"),  # would reach analyticsX:...
        ("analytic?:*", "only 'analytic' is literal"),
        ("live:*", "only 'live:' is literal"),
        ("live:merchant*", "only 'live:merchant' is literal"),
        ("\\analytics:*", "starts with a glob character"),  # harmless, but not written out: refused
        ("sessions:abc", "starts with none of them"),
        ("Analytics:*", "only 'Analytics:' is literal"),  # Redis globs are case-sensitive
    ],
)
def test_patterns_that_could_reach_other_keys_are_refused_saying_why(pattern, why):
    reason = outside_prefixes(pattern, PREFIXES)
    assert reason is not None and why in reason
    assert "'analytics:', 'live:merchant:'" in reason


def test_a_refused_pattern_does_match_a_key_outside_the_prefixes():
    # The refusals are not over-cautious: each refused glob pattern reaches a key no prefix covers.
    outside = ["analyticsX:1", "ab", "l", "Analytics:1", "live:session:1", "live:merchantX"]
    for pattern in ("*", "a*", "[al]*", "analytics*", "live:*", "live:merchant*", "?nalytics:*"):
        reached = [key for key in outside + ["xnalytics:1"] if fnmatchcase(key, pattern)]
        assert reached, pattern
        assert outside_prefixes(pattern, PREFIXES) is not None


@pytest.mark.parametrize(
    ("given", "pattern"),
    [
        ({}, "analytics:*"),
        ({"scope": "merchant", "merchant_id": 1}, "live:merchant:1:*"),
        ({"scope": "merchant", "merchant_id": 12, "pattern": "  "}, "live:merchant:12:*"),  # a blank form field
        ({"scope": "pattern", "pattern": "analytics:overview:*"}, "analytics:overview:*"),
        ({"scope": "pattern", "pattern": "live:merchant:*"}, "live:merchant:*"),
    ],
)
def test_each_scope_comes_to_one_pattern(given, pattern):
    request = clear_request(params(**given), SETTINGS)
    assert request.pattern == pattern
    assert request.dry_run is True


def test_merchant_1_does_not_reach_merchant_12():
    pattern = clear_request(params(scope="merchant", merchant_id=1), SETTINGS).pattern
    assert fnmatchcase("live:merchant:1:x", pattern)
    assert not fnmatchcase("live:merchant:12:x", pattern)
    assert not fnmatchcase("live:merchant:1", pattern)


# Every way a run can ask for the wrong thing: (params, what the refusal says). tests/test_cache_clearing.py
# runs each against keys planted in Redis.
BAD_PARAMS = [
    (params(scope="all"), "scope must be one of analytics, merchant, pattern"),
    (params(scope=None), "scope must be one of"),
    (params(dry_run="no"), "dry_run must be true or false"),
    (params(dry_run=None), "dry_run must be true or false"),
    (params(scope="merchant"), "scope merchant needs merchant_id"),
    (params(scope="merchant", merchant_id=0), "merchant_id must be a whole number of at least 1"),
    (params(scope="merchant", merchant_id=-3), "merchant_id must be a whole number of at least 1"),
    (params(scope="merchant", merchant_id="12"), "merchant_id must be a whole number of at least 1"),
    (params(scope="merchant", merchant_id=True), "merchant_id must be a whole number of at least 1"),
    (params(scope="merchant", merchant_id=1.5), "merchant_id must be a whole number of at least 1"),
    (params(merchant_id=1), "merchant_id is for scope merchant only"),
    (params(scope="pattern", merchant_id=1, pattern="analytics:*"), "merchant_id is for scope merchant only"),
    (params(pattern="analytics:*"), "pattern is for scope pattern only"),
    (params(scope="merchant", merchant_id=1, pattern="live:*"), "pattern is for scope pattern only"),
    (params(scope="pattern"), "scope pattern needs a pattern"),
    (params(scope="pattern", pattern="   "), "scope pattern needs a pattern"),
    (params(scope="pattern", pattern=" analytics:*"), "without surrounding spaces"),
    (params(scope="pattern", pattern=["analytics:*"]), "must be a Redis glob"),
    (params(scope="pattern", pattern="*"), "could match keys outside the suite's prefixes"),
    (params(scope="pattern", pattern="a*"), "could match keys outside"),
    (params(scope="pattern", pattern="[al]*"), "could match keys outside"),
    (params(scope="pattern", pattern="?nalytics:*"), "could match keys outside"),
    (params(scope="pattern", pattern="analytics*"), "could match keys outside"),
    (params(scope="pattern", pattern="live:*"), "could match keys outside"),
]


@pytest.mark.parametrize(("given", "message"), BAD_PARAMS, ids=[str(i) for i in range(len(BAD_PARAMS))])
def test_bad_params_are_refused_saying_what_is_wrong(given, message):
    with pytest.raises(ParamError) as refused:
        clear_request(given, SETTINGS)
    assert message in str(refused.value)


def _parse(cache_yaml: str):
    return parse_config(f"cache:\n{cache_yaml}", Path("test.yaml"))


@pytest.mark.parametrize(
    ("cache_yaml", "message"),
    [
        ('  clearable_prefixes: ["analytics"]\n', "must be a namespace ending in ':'"),
        ('  clearable_prefixes: ["analytics:*"]\n', "must be a namespace ending in ':'"),
        ("  clearable_prefixes: []\n", "clearable_prefixes"),
        ('  clearable_prefixes: ["live:merchant:"]\n', "hygiene_pattern: 'analytics:*' could match keys outside"),
        ('  merchant_pattern: "live:merchant:*"\n', "must contain {merchant_id} once"),
        ('  merchant_pattern: "live:merchant:{merchant_id}*"\n', "followed by a literal separator"),
        ('  merchant_pattern: "live:merchant:{merchant_id}"\n', "followed by a literal separator"),
        ('  merchant_pattern: "live:merchant:{merchant_id}0:*"\n', "followed by a literal separator"),
        ('  merchant_pattern: "live:*:{merchant_id}:*"\n', "must follow a literal prefix"),
        ('  merchant_pattern: "live:{merchant_id}:*"\n', "merchant_pattern: 'live:' could match keys outside"),
        ("  unlink_batch: 0\n", "cache.unlink_batch"),
    ],
)
def test_clearing_config_that_could_reach_other_keys_fails_the_parse(cache_yaml, message):
    with pytest.raises(ConfigError) as raised:
        _parse(cache_yaml)
    assert message in str(raised.value)
