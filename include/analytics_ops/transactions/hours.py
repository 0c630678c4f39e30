"""Ranges of UTC hours of txn_hourly_agg: rebuilt from wallet_transactions, and compared with them.

A rebuild is one transaction: an advisory lock per hour (a backfill and a repair of the same hour
wait for each other), the hours deleted, then inserted again from the transactions. Readers see the
old hours or the new ones, never half; a re-run gives the same rows. The drift is the rows where
what is written differs from what the transactions say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, order=True)
class HourRange:
    """UTC hours from `start` (included) to `end` (excluded), both on the hour."""

    start: datetime
    end: datetime

    @property
    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // 3600)

    def as_params(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_params(cls, params: dict[str, str]) -> HourRange:
        return cls(datetime.fromisoformat(params["start"]), datetime.fromisoformat(params["end"]))

    def split(self, hours: int) -> list[HourRange]:
        chunks, start = [], self.start
        while start < self.end:
            end = min(self.end, start + timedelta(hours=hours))
            chunks.append(HourRange(start, end))
            start = end
        return chunks

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Rebuilt:
    hours: HourRange
    rows_deleted: int
    rows_written: int


def rebuild(conn: Any, hours: HourRange) -> Rebuilt:
    """Rewrite `hours` of txn_hourly_agg from wallet_transactions in one transaction (committed here)."""
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        cur.execute(sql_file("transactions/lock_hours"), hours.as_params())
        cur.execute(sql_file("transactions/delete_hours"), hours.as_params())
        deleted = cur.rowcount
        cur.execute(sql_file("transactions/insert_hours"), hours.as_params())
        written = cur.rowcount
    conn.commit()
    return Rebuilt(hours, deleted, written)


@dataclass(frozen=True)
class Drift:
    hour: datetime
    merchant_id: int
    currency: str
    expected_count: int
    written_count: int
    expected_amount: Decimal
    written_amount: Decimal
    extra: bool  # written, but no transaction says so
    missing: bool  # transactions, but nothing written

    def __str__(self) -> str:
        return (
            f"{self.hour:%Y-%m-%d %H:00} merchant {self.merchant_id} {self.currency}: "
            f"{self.written_count} tx / {self.written_amount} written, "
            f"{self.expected_count} tx / {self.expected_amount} in wallet_transactions"
        )


def drift(conn: Any, hours: HourRange) -> list[Drift]:
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        rows = cur.execute(sql_file("transactions/hourly_drift"), hours.as_params()).fetchall()
    # In UTC whatever the session's time zone: the hours are UTC hours.
    return [Drift(hour.astimezone(UTC), *rest) for hour, *rest in rows]


def summarize(drifts: list[Drift]) -> dict[str, Any]:
    """What rewriting the hours would change: rows inserted, updated, deleted, and the net differences."""
    return {
        "rows_to_insert": sum(d.missing for d in drifts),
        "rows_to_update": sum(not d.missing and not d.extra for d in drifts),
        "rows_to_delete": sum(d.extra for d in drifts),
        "tx_count_change": sum(d.expected_count - d.written_count for d in drifts),
        "amount_change": str(sum((d.expected_amount - d.written_amount for d in drifts), Decimal(0))),
    }
