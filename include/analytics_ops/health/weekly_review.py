"""The weekly review (runbook 001 *Weekly Health Check*, runbook 002 *Weekly Checks*) as checks.

Same shape as the daily checks (`health_checks`): each returns graded results, kept in
`ops.health_check_results` and listed in the digest. Findings are warnings, never critical: the
review is read by a person on Monday, nothing in it pages. Sizes are snapshotted into
`ops.table_size_history` each run, so growth is measured against last week's snapshot.
"""

from __future__ import annotations

from analytics_ops.health.framework import (
    OK,
    WARN,
    Check,
    CheckContext,
    CheckResult,
    human_bytes,
)

DAILY_DAG_ID = "analytics_health_check"


def _more(items: list[str], limit: int = 5) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def slow_statements(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.weekly_review
    min_ms = settings.slow_statement_mean.total_seconds() * 1000
    with ctx.primary() as conn:
        rows = conn.execute(
            sql_file("weekly_review/slow_statements"), {"min_mean_ms": min_ms, "top": settings.top_statements}
        ).fetchall()
    threshold = f"warn when a statement's mean is over {min_ms / 1000:g} s"
    if not rows:
        return [CheckResult("slow_statements", OK, "no statement with a mean over the limit", threshold, 0.0)]
    items = [f"{mean / 1000:.2f} s mean x {calls} calls: {query}" for _, query, calls, mean, _ in rows]
    return [
        CheckResult(
            "slow_statements",
            WARN,
            f"{len(rows)} statement(s), slowest {rows[0][3] / 1000:.2f} s mean",
            threshold,
            float(len(rows)),
            _more(items, 3),
        )
    ]


def _growth(bytes_now: int, bytes_before: int | None) -> float | None:
    if bytes_before is None or bytes_before == 0:
        return None
    return 100.0 * (bytes_now - bytes_before) / bytes_before


def sizes(ctx: CheckContext) -> list[CheckResult]:
    """Snapshot table and index sizes; growth against the newest snapshot `compare_after` old."""
    from analytics_ops.core.db import sql_file

    settings = ctx.config.weekly_review
    schemas = ctx.config.maintenance.schemas
    params = {"run_id": ctx.run_id, "checked_at": ctx.checked_at, "schemas": schemas}
    with ctx.primary() as conn, conn.transaction():
        conn.execute(sql_file("weekly_review/delete_size_snapshot"), params)
        conn.execute(sql_file("weekly_review/take_size_snapshot"), params)
        rows = conn.execute(
            sql_file("weekly_review/size_growth"),
            {**params, "snapshot_before": ctx.checked_at - settings.compare_after},
        ).fetchall()
    threshold = (
        f"warn when one of at least {human_bytes(settings.growth_min_bytes)} grew "
        f"{settings.growth_warn_pct:g}% or more since the snapshot {settings.compare_after.days} d+ ago"
    )
    results = []
    for kind, label in (("table", "tables"), ("index", "indexes")):
        mine = [r for r in rows if r[0] == kind]
        total = sum(r[3] for r in mine)
        compared = [r for r in mine if r[4] is not None]
        before = sum(r[4] for r in compared)
        since = min((r[5] for r in compared), default=None)
        grown = [
            r for r in mine
            if r[3] >= settings.growth_min_bytes and (_growth(r[3], r[4]) or 0) >= settings.growth_warn_pct
        ]  # fmt: skip
        if since is None:
            value = f"{len(mine)} {label}, {human_bytes(total)}; no snapshot a week old to compare with yet"
        else:
            change = _growth(sum(r[3] for r in compared), before) or 0.0
            value = f"{len(mine)} {label}, {human_bytes(total)} ({change:+.1f}% since {since.date()})"

        def describe(r: tuple) -> str:
            growth = _growth(r[3], r[4])
            return f"{r[1]}.{r[2]} {human_bytes(r[3])}" + ("" if growth is None else f" ({growth:+.1f}%)")

        detail = (
            ("grew: " + _more([describe(r) for r in grown]))
            if grown
            else ("largest: " + _more([describe(r) for r in mine], 3))
        )
        results.append(CheckResult(f"sizes:{label}", WARN if grown else OK, value, threshold, float(total), detail))
    return results


def dead_tuples(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.maintenance.vacuum_reindex import table_health

    settings = ctx.config.maintenance
    with ctx.primary() as conn:
        tables = table_health(conn, settings.schemas)
    over = sorted(
        (t for t in tables if t.dead_pct >= settings.dead_tuple_pct and t.n_dead_tup >= settings.min_dead_tuples),
        key=lambda t: -t.dead_pct,
    )
    # Among the tables over the limit when there are some: a tiny table with 3 of its 3 rows dead is not news.
    worst_pct = max((t.dead_pct for t in (over or tables)), default=0.0)
    items = [f"{t.schemaname}.{t.relname} {t.dead_pct:g}% ({t.n_dead_tup} dead)" for t in over]
    return [
        CheckResult(
            "dead_tuples",
            WARN if over else OK,
            f"{len(over)} table(s) over the limit; highest ratio {worst_pct:g}%",
            f"warn at {settings.dead_tuple_pct:g}% dead with at least {settings.min_dead_tuples} dead tuples "
            "(maintenance section)",
            worst_pct,
            _more(items),
        )
    ]


def bloat(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file
    from analytics_ops.maintenance.vacuum_reindex import index_bloat

    review, maintenance = ctx.config.weekly_review, ctx.config.maintenance
    with ctx.primary() as conn:
        tables = conn.execute(
            sql_file("weekly_review/table_bloat"),
            {"schemas": maintenance.schemas, "min_bytes": review.table_bloat_min_bytes},
        ).fetchall()
        indexes = index_bloat(conn, maintenance)
    bloated_tables = [t for t in tables if t[3] >= review.table_bloat_warn_pct]
    bloated_indexes = [i for i in indexes if i.bloat_pct >= maintenance.reindex_bloat_pct]
    return [
        CheckResult(
            "bloat:tables",
            WARN if bloated_tables else OK,
            f"{len(bloated_tables)} of {len(tables)} measured table(s) over the limit"
            + (f"; highest {tables[0][3]:.0f}%" if tables else ""),
            f"warn at {review.table_bloat_warn_pct:g}% estimated bloat, tables of at least "
            f"{human_bytes(review.table_bloat_min_bytes)}",
            tables[0][3] if tables else None,
            _more([f"{s}.{r} {human_bytes(b)} {p:.0f}%" for s, r, b, p in bloated_tables]),
        ),
        CheckResult(
            "bloat:indexes",
            WARN if bloated_indexes else OK,
            f"{len(bloated_indexes)} of {len(indexes)} measured index(es) over the limit"
            + (f"; highest {indexes[0].bloat_pct:.0f}%" if indexes else ""),
            f"warn at {maintenance.reindex_bloat_pct:g}% (the weekly maintenance REINDEXes them), indexes of at "
            f"least {human_bytes(maintenance.min_index_bytes)}",
            indexes[0].bloat_pct if indexes else None,
            _more([f"{i.schemaname}.{i.indexname} {i.bloat_pct:.0f}%" for i in bloated_indexes]),
        ),
    ]


def unused_indexes(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.weekly_review
    with ctx.primary() as conn:
        rows = conn.execute(
            sql_file("weekly_review/unused_indexes"),
            {"schemas": ctx.config.maintenance.schemas, "min_bytes": settings.unused_index_min_bytes},
        ).fetchall()
        (reset,) = conn.execute(
            "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    since = f"since {reset.date()}" if reset else "since statistics began"
    total = sum(r[3] for r in rows)
    return [
        CheckResult(
            "unused_indexes",
            WARN if rows else OK,
            f"{len(rows)} never scanned {since}, {human_bytes(total)}",
            f"warn for a non-unique index of at least {human_bytes(settings.unused_index_min_bytes)} never scanned",
            float(len(rows)),
            _more([f"{s}.{i} on {t} ({human_bytes(b)})" for s, i, t, b in rows]),
        )
    ]


def cache_hit_week(ctx: CheckContext) -> list[CheckResult]:
    """This week's hit rates from the daily checks' results, against their thresholds and last week."""
    from analytics_ops.core.db import sql_file

    health = ctx.config.health_check
    with ctx.primary() as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                sql_file("weekly_review/hit_rate_trend"), {"dag_id": DAILY_DAG_ID, "checked_at": ctx.checked_at}
            ).fetchall()
        }
    results = []
    for check, label, warn_pct in (
        ("buffer_cache_hit_ratio", "postgres", health.postgres.buffer_cache_hit_warn_pct),
        ("redis_hit_rate", "redis", health.redis.hit_rate_warn_pct),
    ):
        threshold = f"warn when the week's average is under {warn_pct:g}%"
        samples, avg_week, min_week, avg_before = rows.get(check, (0, None, None, None))
        if not samples:
            value = f"no judged {check} samples this week"
            results.append(CheckResult(f"cache_hit_week:{label}", OK, value, threshold))
            continue
        value = f"average {avg_week:.2f}%, lowest {min_week:.2f}% over {samples} daily check(s)"
        if avg_before is not None:
            value += f"; week before {avg_before:.2f}%"
        status = WARN if avg_week < warn_pct else OK
        results.append(CheckResult(f"cache_hit_week:{label}", status, value, threshold, round(avg_week, 3)))
    return results


WEEKLY_CHECKS: tuple[Check, ...] = (
    Check(
        "review_slow_statements",
        "slow_statements",
        slow_statements,
        "EXPLAIN (ANALYZE, BUFFERS) the statements listed; runbook 001 Slow Query Optimization",
    ),
    Check("review_sizes", "sizes", sizes, "see which tables grew and why; plan disk"),
    Check("review_dead_tuples", "dead_tuples", dead_tuples, "the weekly maintenance vacuums them"),
    Check("review_bloat", "bloat", bloat, "the weekly maintenance reindexes bloated indexes"),
    Check(
        "review_unused_indexes",
        "unused_indexes",
        unused_indexes,
        "an index nobody reads still costs every write: consider dropping it",
    ),
    Check(
        "review_cache_hit_rates", "cache_hit_week", cache_hit_week, "runbook 001 Cache Optimization / shared_buffers"
    ),
)
