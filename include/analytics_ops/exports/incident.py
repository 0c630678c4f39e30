"""Runbook 003's incident export, as its `exports.NewIncidentExporter(...).Export(ExportRequest{OrgID,
ModelID, Start, End, MaxRows})` does it: the usage events of one organisation (of one model when
given) that occurred in [start, end), oldest first, at most `max_rows`, as CSV in the runbook's
column order.

The CSV is streamed: `COPY (SELECT ...) TO STDOUT (FORMAT csv, HEADER)` read chunk by chunk and
written chunk by chunk to an `ObjectStoragePath` under the backups' destination, so the export's
memory does not grow with its rows (bench/bench_incident_export.py measures it). Each export is a
row of `ops.incident_exports`: pending while it runs, then succeeded (rows, bytes, where, whether it
was cut at `max_rows`) or failed (why); the Ops page lists the stuck and the failed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_ops.core.params import ParamError, blank, parse_instant
from analytics_ops.core.settings_exports import IncidentExportSettings

# The runbook's CSV Format, in its order.
COLUMNS = (
    "event_id", "org_id", "occurred_at", "received_at", "model_id", "actor_id", "input_tokens", "output_tokens",
    "latency_ms", "status", "error_code", "cost_estimate_cents", "metadata",
)  # fmt: skip
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
DECLARED_PARAMS = ("org_id", "model_id", "start", "end", "max_rows")
WRITE_SIZE = 1 << 20


@dataclass(frozen=True)
class ExportRequest:
    org_id: str
    model_id: str | None
    start: datetime
    end: datetime
    max_rows: int

    def as_params(self) -> dict[str, Any]:
        return {**asdict(self), "start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ExportRequest:
        return cls(
            params["org_id"],
            params["model_id"],
            datetime.fromisoformat(params["start"]),
            datetime.fromisoformat(params["end"]),
            int(params["max_rows"]),
        )

    def __str__(self) -> str:
        model = f" model {self.model_id}" if self.model_id else ""
        return f"org {self.org_id}{model}, {self.start:%Y-%m-%dT%H:%M:%SZ}..{self.end:%Y-%m-%dT%H:%M:%SZ}"


def _identifier(name: str, value: object, *, required: bool) -> str | None:
    if blank(value):
        if required:
            raise ParamError(f"{name}: give the organisation whose events to export (e.g. org-42)")
        return None
    if not isinstance(value, str) or not _ID.match(value.strip()):
        raise ParamError(
            f"{name}: {value!r} is not an id: letters, digits and . _ : - only, at most 128, starting with a "
            "letter or digit"
        )
    return value.strip()


def export_request(params: dict[str, Any], settings: IncidentExportSettings, now: datetime) -> ExportRequest:
    """The export the params ask for; ParamError naming the param when one is wrong (nothing runs then)."""
    org_id = _identifier("org_id", params.get("org_id"), required=True)
    model_id = _identifier("model_id", params.get("model_id"), required=False)
    start, end = parse_instant("start", params.get("start")), parse_instant("end", params.get("end"))
    if end <= start:
        raise ParamError(f"end {end:%Y-%m-%dT%H:%M:%SZ} is not after start {start:%Y-%m-%dT%H:%M:%SZ}")
    if end > now:
        raise ParamError(
            f"end {end:%Y-%m-%dT%H:%M:%SZ} is in the future (UTC now {now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}); "
            "an export covers what already happened"
        )
    if end - start > timedelta(days=settings.max_days):
        raise ParamError(
            f"the window spans {(end - start) / timedelta(days=1):.1f} days, more than "
            f"incident_export.max_days ({settings.max_days}, runbook 003: max 31 days); split it into several exports"
        )
    max_rows = params.get("max_rows")
    if max_rows is None:
        max_rows = settings.default_max_rows
    if isinstance(max_rows, bool) or not isinstance(max_rows, int):
        raise ParamError(f"max_rows: {max_rows!r} is not a whole number")
    if not 1 <= max_rows <= settings.max_rows_limit:
        raise ParamError(
            f"max_rows: {max_rows} is outside 1..{settings.max_rows_limit:,} (incident_export.max_rows_limit)"
        )
    return ExportRequest(org_id, model_id, start, end, max_rows)  # type: ignore[arg-type]


def _sql_params(request: ExportRequest) -> dict[str, Any]:
    return {
        "org_id": request.org_id,
        "model_id": request.model_id,
        "start": request.start,
        "end": request.end,
        "max_rows": request.max_rows,
    }


def record_pending(conn: Any, run_id: str, request: ExportRequest) -> int:
    from analytics_ops.core.db import sql_file

    export_id = conn.execute(sql_file("exports/record_export"), {"run_id": run_id, **_sql_params(request)}).fetchone()[
        0
    ]
    conn.commit()
    return export_id


def take_requests(conn: Any, run_id: str) -> list[dict[str, Any]]:
    """Take into `run_id` every export firing alerts asked for that no run has taken (and the run's own not yet
    exported, when it runs again): each as export_csv's input, with the alert that asked."""
    from analytics_ops.core.db import sql_file

    cur = conn.execute(sql_file("exports/take_requests"), {"run_id": run_id})
    names = [c.name for c in cur.description]
    taken = []
    for row in cur.fetchall():
        r = dict(zip(names, row, strict=True))
        # The ids come from the events' data, not from a person: one that is not a plain id (a path in
        # the making: "..", "a/b") is refused as the trigger form would, and the refusal is recorded.
        bad = [f"{k} {r[k]!r}" for k in ("org_id", "model_id") if not _ID.fullmatch(r[k])]
        if bad:
            conn.execute(
                sql_file("exports/finish_export"),
                {"export_id": r["id"], "status": "failed", "exported_rows": None, "exported_bytes": None,
                 "truncated": None, "location": None, "error": f"not an id: {', '.join(bad)}"},
            )  # fmt: skip
            continue
        start, end = r["window_start"].astimezone(UTC), r["window_end"].astimezone(UTC)
        request = ExportRequest(r["org_id"], r["model_id"], start, end, r["max_rows"])
        alert = {"rule": r["alert_rule"], "fingerprint": r["alert_fingerprint"],
                 "firing_since": r["alert_firing_since"].astimezone(UTC).isoformat()}  # fmt: skip
        taken.append({"export_id": r["id"], **request.as_params(), "alert": alert})
    conn.commit()
    return taken


def record_end(conn: Any, export_id: int, **outcome: Any) -> None:
    from analytics_ops.core.db import sql_file

    values = {"exported_rows": None, "exported_bytes": None, "truncated": None, "location": None, "error": None}
    conn.execute(sql_file("exports/finish_export"), {"export_id": export_id, **values, **outcome})
    conn.commit()


def export_path(root: Any, settings: IncidentExportSettings, request: ExportRequest, export_id: int) -> Any:
    """<destination>/<folder>/<org>/<start>_<end>[_<model>]_<export id>.csv"""
    model = f"_{request.model_id}" if request.model_id else ""
    name = f"{request.start:%Y%m%dT%H%M%SZ}_{request.end:%Y%m%dT%H%M%SZ}{model}_{export_id}.csv"
    return root / settings.folder / request.org_id / name


@dataclass(frozen=True)
class Exported:
    rows: int
    bytes: int
    truncated: bool


def stream_csv(conn: Any, request: ExportRequest, out: Any) -> Exported:
    """COPY the events into the binary file `out`, chunk by chunk; then whether the window held more."""
    from psycopg import sql

    from analytics_ops.core.db import sql_file

    params = _sql_params(request)
    written = 0
    # COPY hands over one row per message: gathered into writes of about 1 MB, so the file object's
    # layers (ObjectStoragePath, fsspec, an upload for a remote store) are crossed per megabyte, not
    # per row. Memory stays at one buffer whatever the rows.
    buffer = bytearray()
    with conn.cursor() as cur:
        copy_statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(sql_file("exports/incident_events"))
        with cur.copy(copy_statement, params) as copy:
            for chunk in copy:
                buffer += chunk
                if len(buffer) >= WRITE_SIZE:
                    out.write(buffer)
                    written += len(buffer)
                    buffer.clear()
        if buffer:
            out.write(buffer)
            written += len(buffer)
        rows = cur.rowcount
        truncated = cur.execute(sql_file("exports/more_rows_than"), params).fetchone()[0]
    conn.rollback()  # reads only
    return Exported(rows, written, truncated)
