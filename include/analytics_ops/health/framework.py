"""The check framework: what a check is, how it is graded, worded, stored and run as a task.

A check is a function of a `CheckContext` returning one `CheckResult` per measured item (most
measure one; replica lag and materialized views measure one per replica / view). Each result says
`ok`, `warn` or `critical`, the measured value and the threshold it was held against, both human
readable, plus the number behind the value so trends can be queried from
`ops.health_check_results`.

`run_check` is what a check task does: measure (a check that cannot measure, e.g. because the server
is down, is critical, not an error), keep the results (XCom for the digest, the results table for
trends), print them, and fail the task when one is critical (`HealthCheckCritical`: no retries, the
measurement is the answer; the suite's failure alert then goes out at the DAG's severity).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from analytics_ops.core.config import SuiteConfig, load_config

log = logging.getLogger(__name__)

OK, WARN, CRITICAL = "ok", "warn", "critical"
UNMEASURED = "could not measure"  # the value of the one result of a check that raised
STATUS_RANK = {OK: 0, WARN: 1, CRITICAL: 2}
RESULTS_KEY = "health_results"


class HealthCheckCritical(AirflowFailException):
    """A check measured something critical: the task fails at once (a retry would measure the same)."""


@dataclass(frozen=True)
class CheckResult:
    check_name: str
    status: str
    value: str
    threshold: str
    numeric_value: float | None = None
    detail: str = ""

    def line(self) -> str:
        text = f"[{self.status}] {self.check_name}: {self.value} (threshold: {self.threshold})"
        return f"{text}; {self.detail}" if self.detail else text


@dataclass(frozen=True)
class Check:
    task_id: str
    name: str  # results are `name` or `name:<item>`
    measure: Callable[[CheckContext], list[CheckResult]]
    advice: str  # what the on-call does when it is critical


@dataclass
class CheckContext:
    config: SuiteConfig
    dag_id: str
    run_id: str
    task_id: str
    as_of: datetime  # the run's logical date: "yesterday" is the day before it
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    statement_timeout: timedelta | None = None  # default: health_check.statement_timeout
    connect_timeout: int = 10
    # Servers that refused a connection in this context: the next check of the same server fails at
    # once instead of waiting out connect_timeout again (the evaluator runs many checks in one task).
    unreachable: dict[str, str] = field(default_factory=dict)
    # keep_sessions: one session per server for the whole context, each use its own transaction
    # (the evaluator runs a dozen checks a minute: a connection each would cost more than the checks).
    keep_sessions: bool = False
    _sessions: dict[str, Any] = field(default_factory=dict)
    _kept: ExitStack = field(default_factory=ExitStack)

    @contextmanager
    def primary(self, conn_id: str | None = None) -> Iterator[Any]:
        conn_id = conn_id or self.config.connections.primary
        if not self.keep_sessions:
            with ExitStack() as stack:
                yield self._open(conn_id, stack)
            return
        conn = self._sessions.get(conn_id)
        if conn is None or conn.closed:
            conn = self._sessions[conn_id] = self._open(conn_id, self._kept)
        try:
            yield conn
            conn.commit()
        except BaseException:
            try:
                conn.rollback()
            except Exception:  # the session itself broke: the next use opens another
                self._sessions.pop(conn_id, None)
            raise

    def _open(self, conn_id: str, stack: ExitStack) -> Any:
        from analytics_ops.core.db import connect
        from analytics_ops.core.errors import ServerUnreachable, error_first_line
        from analytics_ops.core.tasks import session_name

        if conn_id in self.unreachable:
            raise ServerUnreachable(f"{conn_id} did not answer earlier in this run: {self.unreachable[conn_id]}")
        timeout = self.statement_timeout or self.config.health_check.statement_timeout
        try:
            return stack.enter_context(
                connect(
                    conn_id,
                    application_name=session_name(self.task_id, self.dag_id),
                    statement_timeout=timeout,
                    lock_timeout=min(timeout, self.config.database.lock_timeout),
                    connect_timeout=self.connect_timeout,
                )
            )
        except Exception as exc:
            self.unreachable[conn_id] = error_first_line(exc)
            raise

    def close_sessions(self) -> None:
        self._sessions.clear()
        self._kept.close()

    def redis(self) -> Any:
        from analytics_ops.core.redis import redis_client

        return redis_client(self.config.connections.redis)

    @property
    def yesterday(self) -> date:
        return self.as_of.astimezone(UTC).date() - timedelta(days=1)


# --- grading and wording -------------------------------------------------------------------------


def grade_above(value: float, warn: float, critical: float) -> str:
    """Higher is worse: at or over `critical` is critical, at or over `warn` a warning."""
    if value >= critical:
        return CRITICAL
    return WARN if value >= warn else OK


def grade_below(value: float, warn: float, critical: float) -> str:
    """Lower is worse: under `critical` is critical, under `warn` a warning."""
    if value < critical:
        return CRITICAL
    return WARN if value < warn else OK


def worst(statuses: list[str]) -> str:
    return max(statuses, key=STATUS_RANK.__getitem__, default=OK)


def human_bytes(n: float) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 259200:
        return f"{seconds / 3600:.0f} h" if seconds % 3600 == 0 else f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def human_timedelta(value: timedelta) -> str:
    return human_duration(value.total_seconds())


# --- running a check as a task ---------------------------------------------------------------------


def evaluate(check: Check, ctx: CheckContext, *, quiet: bool = False) -> list[CheckResult]:
    """The check's results; a check that cannot measure is one critical result saying why.

    `quiet`: log that as a warning without the traceback (the evaluator, where a server being down
    is what a rule reports, not an error of the run).
    """
    from analytics_ops.core.errors import error_first_line
    from analytics_ops.core.redaction import redact, suite_secrets

    try:
        results = check.measure(ctx)
    except Exception as exc:  # not swallowed: it becomes a critical result and fails the task
        error = redact(error_first_line(exc), suite_secrets(ctx.config))
        if quiet:
            log.warning("%s could not measure: %s", check.name, error)
        else:
            log.exception("%s could not measure", check.name)
        return [CheckResult(check.name, CRITICAL, UNMEASURED, "must be measurable", None, error)]
    for result in results:
        if result.check_name != check.name and not result.check_name.startswith(check.name + ":"):
            raise ValueError(f"{check.task_id} returned {result.check_name!r}, not named after {check.name!r}")
    return results


def store_results(ctx: CheckContext, check_name: str, results: list[CheckResult]) -> None:
    """Replace this run's earlier results of the check (a retried task) with these, in one transaction."""
    from analytics_ops.core.db import sql_file

    key = {"dag_id": ctx.dag_id, "run_id": ctx.run_id}
    with ctx.primary() as conn, conn.transaction():
        conn.execute(sql_file("health/delete_results"), {**key, "check_prefix": check_name})
        with conn.cursor() as cur:
            cur.executemany(
                sql_file("health/insert_result"),
                [{**key, "checked_at": ctx.checked_at, **asdict(r)} for r in results],
            )


def critical_message(check: Check, results: list[CheckResult]) -> str:
    bad = [r for r in results if r.status == CRITICAL]
    measured = "; ".join(
        f"{r.check_name} is {r.value} (threshold: {r.threshold})" + (f" [{r.detail}]" if r.detail else "") for r in bad
    )
    return f"{check.name} critical: {measured}. What to do: {check.advice}"


def run_check(check: Check) -> list[dict[str, Any]]:
    """What a check task does (see the module docstring)."""
    from airflow.sdk import get_current_context

    from analytics_ops.core.errors import error_first_line

    context = get_current_context()
    ti = context["ti"]
    ctx = CheckContext(
        config=load_config(),
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        as_of=context.get("logical_date") or context["dag_run"].run_after,
    )
    results = evaluate(check, ctx)
    payload = [asdict(r) for r in results]
    ti.xcom_push(key=RESULTS_KEY, value=payload)  # before any failure: the digest reads it either way
    try:
        store_results(ctx, check.name, results)
    except Exception as exc:  # the primary is down: its own check says so; the digest still has XCom
        log.warning("results of %s not stored in ops.health_check_results: %s", check.name, error_first_line(exc))
    for result in results:
        print(result.line())
    if any(r.status == CRITICAL for r in results):
        raise HealthCheckCritical(critical_message(check, results))
    return payload
