"""Replica lag, measured in seconds and bytes, and the gate that waits for it to come down.

What counts as a replica: a physical standby that replays WAL (it serves reads). The primary's
`pg_stat_replication` lists every WAL sender; a WAL archiver (pg_receivewal, Barman's streaming
archiver, pg_basebackup's WAL stream) never replays (its replay_lsn is NULL and its replay_lag grows
without bound under writes), and logical consumers hold a logical slot: neither is counted, and the
gate's summary names them. What the suite cannot know (a delayed standby, a disaster-recovery
standby nobody reads from) is left out by `replication.ignore_applications`.

Two views of each replica, because each misses something:
- the primary's `pg_stat_replication` sees every streaming replica and the bytes of WAL each has
  not replayed; its `replay_lag` is NULL once the primary goes idle (zero lag when no bytes are
  outstanding) and stops moving when a replica's replay is paused;
- a replica's own view (for the connections in `replication.replica_connections`) gives the
  bytes received but not replayed, and, while replay is paused, the seconds since its last
  replayed commit (which then keep growing). When all received WAL is replayed the replica is
  current: zero lag, however long ago the last commit was (an idle primary is not a lagging
  replica). While it replays, the seconds since the last commit say nothing: during one long
  transaction on the primary a replica a few bytes behind has replayed no commit for as long.

The trigger below lets the waiting happen in the triggerer, which holds thousands of waits at
once instead of a worker slot each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from analytics_ops.core.config import ReplicationSettings, load_config


@dataclass(frozen=True)
class ReplicaLag:
    replica: str
    source: str  # "primary" (pg_stat_replication) or "replica" (measured on the replica)
    lag_seconds: float | None
    lag_bytes: int | None
    note: str = ""

    def describe(self) -> str:
        seconds = "?" if self.lag_seconds is None else f"{self.lag_seconds:.1f} s"
        size = "?" if self.lag_bytes is None else _human_bytes(self.lag_bytes)
        text = f"{self.replica} ({self.source} view): {seconds}, {size}"
        return f"{text}, {self.note}" if self.note else text


@dataclass(frozen=True)
class LagVerdict:
    ok: bool
    problems: list[str] = field(default_factory=list)
    lags: list[ReplicaLag] = field(default_factory=list)
    not_counted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        measured = "; ".join(lag.describe() for lag in self.lags) or "no replica measured"
        if self.not_counted:
            measured += "; not replicas: " + "; ".join(self.not_counted)
        if self.ok:
            return f"replica lag within limits: {measured}"
        return "replica lag over the limit: " + "; ".join(self.problems) + f" (measured: {measured})"

    def as_event(self, status: str) -> dict[str, Any]:
        return {
            "status": status,
            "summary": self.summary(),
            "lags": [asdict(lag) for lag in self.lags],
            "not_counted": self.not_counted,
        }


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


# Why a WAL sender of another kind is not a read replica (sql/replication/primary_lag.sql).
NOT_A_REPLICA = {
    "wal_archiver": "streams WAL but never replays it (pg_receivewal, Barman, pg_basebackup)",
    "logical": "a logical replication or decoding consumer",
}


def ignored_by_config(application_name: str, ignore: list[str]) -> bool:
    """`replication.ignore_applications`: exact names, or prefixes written with a trailing `*`."""
    return any(
        application_name.startswith(entry[:-1]) if entry.endswith("*") else application_name == entry
        for entry in ignore
    )


def classify_senders(rows: list[tuple], ignore: list[str] | None = None) -> tuple[list[ReplicaLag], list[str]]:
    """The primary's WAL senders: the read replicas' lags, and a note for each sender not counted."""
    lags, not_counted = [], []
    for replica, application_name, state, kind, lag_bytes, replay_lag_seconds in rows:
        if kind != "standby":
            not_counted.append(f"{replica}: {NOT_A_REPLICA.get(kind, kind)}")
            continue
        if ignored_by_config(application_name or "", ignore or []):
            not_counted.append(f"{replica}: in replication.ignore_applications")
            continue
        seconds: float | None = 0.0 if lag_bytes == 0 else replay_lag_seconds
        note = "" if state == "streaming" else f"state {state}"
        lags.append(ReplicaLag(replica, "primary", seconds, lag_bytes, note))
    return lags, not_counted


def lags_from_primary(rows: list[tuple], ignore: list[str] | None = None) -> list[ReplicaLag]:
    """The read replicas among the primary's WAL senders, with their lag (see `classify_senders`)."""
    return classify_senders(rows, ignore)[0]


def lag_from_replica(name: str, row: tuple) -> ReplicaLag:
    in_recovery, paused, unreplayed_bytes, lag_seconds = row
    if not in_recovery:
        return ReplicaLag(name, "replica", None, None, "not in recovery: this is not a replica")
    if paused:
        return ReplicaLag(name, "replica", lag_seconds, unreplayed_bytes, "replay paused")
    # Replaying what it received: its seconds since the last commit would not be lag (a long
    # transaction has none); the primary's replay_lag is the seconds.
    note = "" if lag_seconds is not None else "replaying: seconds in the primary's view"
    return ReplicaLag(name, "replica", lag_seconds, unreplayed_bytes, note)


def judge(
    primary: list[ReplicaLag],
    replicas: list[ReplicaLag],
    unreachable: list[tuple[str, str]],
    settings: ReplicationSettings,
    not_counted: list[str] | None = None,
) -> LagVerdict:
    """Within limits, or the list of what is not (each replica, each view, each limit)."""
    problems = []
    not_counted = not_counted or []
    if not primary and not replicas and not unreachable:
        if settings.when_no_replica == "fail":
            problems.append("no streaming replica is attached to the primary (replication.when_no_replica: fail)")
        return LagVerdict(not problems, problems, [], not_counted)
    for lag in [*primary, *replicas]:
        if lag.lag_bytes is None and lag.lag_seconds is None:
            problems.append(f"{lag.replica}: lag unknown ({lag.note or 'replica not streaming yet'})")
            continue
        if lag.lag_bytes is not None and lag.lag_bytes > settings.max_lag_bytes:
            problems.append(
                f"{lag.replica}: {_human_bytes(lag.lag_bytes)} behind (max {_human_bytes(settings.max_lag_bytes)})"
            )
        if lag.lag_seconds is not None and lag.lag_seconds > settings.max_lag_seconds:
            problems.append(f"{lag.replica}: {lag.lag_seconds:.1f} s behind (max {settings.max_lag_seconds:g} s)")
    problems.extend(f"{name}: unreachable ({error})" for name, error in unreachable)
    return LagVerdict(not problems, problems, [*primary, *replicas], not_counted)


def _session(settings: ReplicationSettings) -> dict[str, Any]:
    """One measurement's session, sync or async: `database:` timeouts, statements capped at a poke."""
    database = load_config().database
    return {
        "application_name": "analytics-ops:replica-lag",
        "statement_timeout": min(settings.poke_interval, database.statement_timeout),
        "connect_timeout": 10,
    }


def measure(settings: ReplicationSettings | None = None, primary_conn_id: str | None = None) -> LagVerdict:
    """Measure now, synchronously (the sensor's first look and its reschedule-mode pokes)."""
    from analytics_ops.core.db import connect, sql_file
    from analytics_ops.core.errors import error_first_line

    settings = settings or load_config().replication
    options = _session(settings)
    with connect(primary_conn_id or load_config().connections.primary, **options) as conn:
        rows = conn.execute(sql_file("replication/primary_lag")).fetchall()
    primary, not_counted = classify_senders(rows, settings.ignore_applications)
    replicas, unreachable = [], []
    for conn_id in settings.replica_connections:
        try:
            with connect(conn_id, **options) as conn:
                replicas.append(lag_from_replica(conn_id, conn.execute(sql_file("replication/replica_lag")).fetchone()))
        except Exception as exc:
            unreachable.append((conn_id, error_first_line(exc)))
    return judge(primary, replicas, unreachable, settings, not_counted)


async def ameasure(settings: ReplicationSettings, primary_conn_id: str) -> LagVerdict:
    """The same measurement from the triggerer's event loop."""
    from analytics_ops.core.db import aconnect, sql_file
    from analytics_ops.core.errors import error_first_line

    options = _session(settings)
    async with await aconnect(primary_conn_id, **options) as conn:
        cur = await conn.execute(sql_file("replication/primary_lag"))
        primary, not_counted = classify_senders(await cur.fetchall(), settings.ignore_applications)
    replicas, unreachable = [], []
    for conn_id in settings.replica_connections:
        try:
            async with await aconnect(conn_id, **options) as conn:
                cur = await conn.execute(sql_file("replication/replica_lag"))
                replicas.append(lag_from_replica(conn_id, await cur.fetchone()))
        except Exception as exc:
            unreachable.append((conn_id, error_first_line(exc)))
    return judge(primary, replicas, unreachable, settings, not_counted)


class ReplicaLagTrigger(BaseTrigger):
    """Polls replica lag until it is within limits (event "ok") or `deadline` passes ("timeout")."""

    def __init__(self, *, primary_conn_id: str, settings: dict[str, Any], deadline: float) -> None:
        super().__init__()
        self.primary_conn_id = primary_conn_id
        self.settings = settings
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "analytics_ops.replication.lag.ReplicaLagTrigger",
            {"primary_conn_id": self.primary_conn_id, "settings": self.settings, "deadline": self.deadline},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        settings = ReplicationSettings.model_validate(self.settings)
        interval = settings.poke_interval.total_seconds()
        while True:
            try:
                verdict = await ameasure(settings, self.primary_conn_id)
            except Exception as exc:  # the primary itself unreachable: keep waiting until the deadline
                from analytics_ops.core.errors import error_first_line

                verdict = LagVerdict(False, [f"primary unreachable ({error_first_line(exc)})"], [])
            if verdict.ok:
                yield TriggerEvent(verdict.as_event("ok"))
                return
            self.log.info("%s; next look in %.0f s", verdict.summary(), interval)
            if time.time() + interval > self.deadline:
                yield TriggerEvent(verdict.as_event("timeout"))
                return
            await asyncio.sleep(interval)
