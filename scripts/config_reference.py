"""Write docs/configuration.md: every key of the config file, its type, default and shipped value, and
what it changes, generated from the typed config (include/analytics_ops/core/config.py) and the comments
in config/analytics_ops.yaml, so the reference cannot drift from the code (tests/test_docs.py
regenerates it and compares).

    scripts/with-env python scripts/config_reference.py            # rewrite docs/configuration.md
    scripts/with-env python scripts/config_reference.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
import types
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from analytics_ops.core.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, SuiteConfig

OUT = PROJECT_ROOT / "docs" / "configuration.md"

# Keys whose line in the config file carries no comment of its own (their section's comment covers
# them there), or whose comment there is really its section's; what they change, in one line each.
# A key with neither a comment nor an entry here is reported, and fails tests/test_docs.py.
DESCRIPTIONS = {
    "airflow": "How the suite presents itself in Airflow.",
    "connections": "Airflow connection ids the suite reaches servers through.",
    "connections.primary": "The analytics PostgreSQL primary: every write, and the suite's own `ops` tables.",
    "connections.replica": "A streaming replica of the primary (reads that may lag, e.g. cache warming).",
    "connections.redis": "The Redis cache that cache warming writes.",
    "connections.slack": "The Slack incoming webhook used where no route says otherwise.",
    "database": "Session settings for every connection the suite opens.",
    "dag_defaults.retries": "Task retries before a task fails for good (and the final alert goes out).",
    "dag_defaults.retry_delay": "Wait before the first retry; it doubles with each retry.",
    "dag_defaults.max_retry_delay": "Cap on the doubling retry wait.",
    "dag_defaults.severity": "Severity (P0-P3) of a DAG that names none: picks the Slack route and mention.",
    "dags": "Per-DAG overrides, keyed by dag_id; anything not set falls back to `dag_defaults`.",
    "dags.<dag_id>": "The settings of one DAG of the suite.",
    "dags.<dag_id>.severity": "This DAG's severity (P0-P3): its alerts' route and mention.",
    "dags.<dag_id>.tags": "Extra tags shown in the UI (the suite adds `analytics-ops` and `severity:Px`).",
    "dags.<dag_id>.retries": "Overrides `dag_defaults.retries` for this DAG.",
    "dags.<dag_id>.retry_delay": "Overrides `dag_defaults.retry_delay` for this DAG.",
    "dags.<dag_id>.max_retry_delay": "Overrides `dag_defaults.max_retry_delay` for this DAG.",
    "alerting.routes.<severity>": "Where alerts of one severity go.",
    "alerting.routes.<severity>.connection": "Slack webhook connection id for this severity.",
    "alerting.routes.<severity>.mention": "Mention put in front of the message (`<!here>`, `<@U123>`, or empty).",
    "database.statement_timeout": "Cap on any single statement of a suite session (some tasks set their own).",
    "replication.max_lag_seconds": "Seconds a replica may be behind before write-heavy work waits.",
    "replication.poke_interval": "How often the gate measures the lag while it waits.",
    "replication.timeout": "How long the gate waits for lag to come down before failing the run.",
    "mv_refresh.pool_slots": "Slots of that pool: refreshes running at once across the suite.",
    "mv_refresh.groups": "Named groups of views, one per refresh DAG.",
    "archival.target_batch_seconds": "Batch duration the adaptive batch size aims at.",
    "retention.policies": "The retention rules, applied in order.",
    "aggregation": "The daily aggregation (tasks -> daily_analytics) and its backfills.",
    "aggregation.priority_weights.low": "Weight of a completed low-priority task.",
    "aggregation.priority_weights.medium": "Weight of a completed medium-priority task.",
    "aggregation.priority_weights.high": "Weight of a completed high-priority task.",
    "aggregation.priority_weights.urgent": "Weight of a completed urgent task.",
    "cache.scan_count": "COUNT hint of each SCAN call during the hygiene pass.",
    "mv_refresh.statement_timeout": "Cap on one view's refresh statement.",
    "mv_refresh.groups.<group>": "One refresh schedule's views (evening: analytics_mv_refresh; "
    "frequent: analytics_mv_refresh_frequent).",
    "mv_refresh.groups.<group>.views": "Materialized views refreshed CONCURRENTLY, one mapped task each "
    "(schema-qualified, or in `public`).",
    "maintenance.min_dead_tuples": "... and at least this many dead tuples (see dead_tuple_pct).",
    "maintenance.min_index_bytes": "Indexes smaller than this are never reindexed (see reindex_bloat_pct).",
    "archival.max_batch_rows": "Upper bound of the adaptive batch size.",
    "archival.batch_statement_timeout": "Cap on one batch's statement; a batch over it fails and retries.",
    "retention.batch_rows": "Rows deleted (or moved) per keyset batch, each one short transaction.",
    "retention.policies[]": "One retention rule per table.",
    "retention.policies[].table": "The table to clean.",
    "retention.policies[].key_column": "Its unique key, walked in keyset batches.",
    "retention.policies[].timestamp_column": "The column compared with `older_than`.",
    "retention.policies[].older_than": "Rows whose timestamp is older than this are removed.",
    "retention.policies[].only_when": "Only rows where a column equals a value (e.g. resolved alerts).",
    "retention.policies[].only_when.column": "The column to compare.",
    "retention.policies[].only_when.equals": "The value it must equal (text).",
    "retention.policies[].archive_table": "Move rows into this table instead of deleting them.",
    "backups.restore_jobs": "pg_restore -j workers of the verification restore (capped at the worker's cores).",
    "health_check.postgres": "Checks of the primary: connections, idle transactions, long queries, cache hits.",
    "health_check.postgres.connections_critical_pct": "Critical at this share of max_connections.",
    "health_check.postgres.idle_in_transaction_critical_after": "Critical when a session is idle in a "
    "transaction this long (analytics_stuck_work should have ended it).",
    "health_check.postgres.long_query_critical_after": "Critical when a statement runs this long.",
    "health_check.postgres.buffer_cache_hit_critical_pct": "Critical under this buffer-cache hit ratio.",
    "health_check.postgres.buffer_cache_min_blocks": "The ratio is not judged with fewer block accesses.",
    "health_check.replication": "Checks of each replica's lag and each replication slot's retained WAL.",
    "health_check.replication.lag_critical_seconds": "Critical when a replica is this many seconds behind.",
    "health_check.replication.lag_warn_bytes": "Warn when a replica is this many bytes of WAL behind.",
    "health_check.replication.lag_critical_bytes": "Critical when a replica is this many bytes of WAL behind.",
    "health_check.replication.slot_retained_critical_bytes": "Critical when a slot holds this much WAL.",
    "health_check.redis": "Checks of the Redis cache: memory, hit rate, evictions.",
    "health_check.redis.memory_critical_pct": "Critical at this share of maxmemory.",
    "health_check.redis.hit_rate_min_lookups": "The hit rate is not judged with fewer lookups since the last check.",
    "health_check.data": "Checks of the data: freshness, staging backlog, stuck jobs.",
    "health_check.data.freshness_critical_after": "Critical when the rollup is this far behind the newest "
    "event (runbook 003: 10 minutes).",
    "health_check.data.staging_backlog_critical_rows": "Critical with this many rows waiting in staging.",
    "health_check.suite.backup.warn_after": "Warn when the newest verified backup is older than this.",
    "health_check.suite.backup.critical_after": "Critical when the newest verified backup is older than this.",
    "health_check.suite.archival.warn_after": "Warn when the last archival is older than this.",
    "health_check.suite.archival.critical_after": "Critical when the last archival is older than this.",
    "health_check.suite.cache_warm.warn_after": "Warn when the last successful cache warm is older than this.",
    "health_check.suite.cache_warm.critical_after": "Critical when the last successful cache warm is older than this.",
    "health_check.suite.mv_refresh.<group>": "Age limits of the views of one mv_refresh group.",
    "health_check.suite.mv_refresh.<group>.warn_after": "Warn when a view of the group was last refreshed "
    "longer ago than this.",
    "health_check.suite.mv_refresh.<group>.critical_after": "Critical when a view of the group was last "
    "refreshed longer ago than this.",
    "weekly_review.growth_min_bytes": "Tables and indexes smaller than this are not judged on growth.",
    "weekly_review.table_bloat_min_bytes": "Tables smaller than this are not judged on bloat.",
}


def _yaml_comments(text: str) -> dict[str, str]:
    """dotted key -> the comment block right above the key (or after it on its line)."""
    comments: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            pending = []
            continue
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = re.match(r"^(\s*)([A-Za-z_][\w]*|P[0-3]):(.*)$", line)
        if not match:
            pending = []
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [key])
        inline = rest.split(" #", 1)[1].strip() if " #" in rest else ""
        text_ = " ".join(pending + ([inline] if inline else [])).strip()
        if text_:
            comments[path] = text_
        pending = []
        stack.append((indent, key))
    return comments


def _show(value: Any) -> str:
    from pydantic_core import PydanticUndefined

    if value is PydanticUndefined:
        return "required"
    if value == "":
        return '""'
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if seconds >= size and seconds % size == 0:
                return f"{int(seconds // size)}{unit}"
        return f"{seconds}s"
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, dict):
        return "{}" if not value else "(see below)"
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return "duration" if args[0] is timedelta else _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if annotation is timedelta:
        return "duration"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _model_of(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """('', M) for a section, ('.<key>', M) for a map of sections, ('[]', M) for a list of them."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "", annotation
    if origin in (types.UnionType, typing.Union):
        for arg in args:
            if found := _model_of(arg):
                return found
    if origin is list and args and _model_of(args[0]):
        return "[]", _model_of(args[0])[1]
    if origin is dict and args and _model_of(args[1]):
        return None if args[1] is None else (".<key>", _model_of(args[1])[1])
    return None


# How each map of sections names its keys in the reference.
MAP_KEYS = {
    "dags": "<dag_id>",
    "alerting.routes": "<severity>",
    "mv_refresh.groups": "<group>",
    "health_check.suite.mv_refresh": "<group>",
}


def keys(model: type[BaseModel] = SuiteConfig, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, annotation, default) of every key, sections before their keys."""
    found = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        default = field.get_default(call_default_factory=True)
        found.append((path, field.annotation, default))
        nested = _model_of(field.annotation)
        if nested:
            shape, sub = nested
            if shape == ".<key>":
                sub_prefix = f"{path}.{MAP_KEYS.get(path, '<key>')}"
                found.append((sub_prefix, sub, None))
                found.extend(keys(sub, f"{sub_prefix}."))
            else:
                found.extend(keys(sub, f"{path}{shape}."))
    return found


def _shipped(raw: dict, path: str) -> Any:
    node: Any = raw
    for part in path.replace("[]", "").split("."):
        if part.startswith("<") or not isinstance(node, dict) or part not in node:
            return "—"
        node = node[part]
    return node


def describe(path: str, comments: dict[str, str]) -> str | None:
    if path in DESCRIPTIONS:  # said here on purpose: a comment above a section's first key is the section's
        return DESCRIPTIONS[path]
    concrete = comments.get(path)
    if concrete is None:
        # dags.<dag_id>.deadline -> the first shipped DAG's comment on its deadline, and so on.
        pattern = re.escape(path).replace(r"<dag_id>", r"\w+").replace(r"<severity>", r"P[0-3]")
        pattern = pattern.replace(r"<group>", r"\w+").replace(r"\[\]", "")
        for key, text in comments.items():
            if re.fullmatch(pattern, key):
                concrete = text
                break
    return concrete


def render() -> tuple[str, list[str]]:
    text = DEFAULT_CONFIG_PATH.read_text()
    comments = _yaml_comments(text)
    raw = yaml.safe_load(text)
    missing = []
    lines = [
        "# Configuration reference",
        "",
        "Generated by `scripts/config_reference.py` from the typed config (`include/analytics_ops/core/config.py`)",
        "and the comments in [`config/analytics_ops.yaml`](../config/analytics_ops.yaml); `make docs` rewrites",
        "it and `tests/test_docs.py` fails when it is out of date. Every key is optional: a key left out takes",
        'its **default**; "shipped" is the value in the config file as committed. Durations are a number and a',
        "unit (`500ms`, `30s`, `5m`, `2h`, `7d`). Another file: `ANALYTICS_OPS_CONFIG=/path`. A wrong key, type",
        "or value stops the DAGs' parse with a message naming the key.",
        "",
    ]
    section = None
    for path, annotation, default in keys():
        top = path.split(".")[0]
        if top != section:
            section = top
            lines += ["", f"## `{top}`", "", "| key | type | default | shipped | what it changes |"]
            lines.append("|---|---|---|---|---|")
        description = describe(path, comments)
        if not description:
            missing.append(path)
            description = "**undocumented**"
        shipped = _shipped(raw, path)
        shipped_text = "(see below)" if isinstance(shipped, dict) and shipped else _show(shipped)
        if isinstance(shipped, list) and shipped and isinstance(shipped[0], dict):
            shipped_text = "(see the file)"
        if shipped == "—":
            shipped_text = "—"
        cells = [f"`{path}`", _type_name(annotation), f"`{_show(default)}`", f"`{shipped_text}`", description]
        lines.append("| " + " | ".join(c.replace("|", "\\|") if i == 4 else c for i, c in enumerate(cells)) + " |")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n", missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/configuration.md is out of date")
    args = parser.parse_args(argv)
    text, missing = render()
    if missing:
        print(f"keys with no description (comment them in the config file): {missing}", file=sys.stderr)
        return 1
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {Path(OUT).relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
