"""Incremental backups, the PostgreSQL way: a physical base backup plus the WAL written since.

Design (runbook 001 *Backup Strategy › 6-hourly incremental*; see docs/backups.md):

- **WAL through a slot.** A physical replication slot (`backups.wal_slot`) makes the primary keep
  every WAL segment until `pg_receivewal` has fetched it, so there is no gap between runs. Each run
  switches to a new segment (`pg_switch_wal()`, so the last 6 hours are in complete files) and runs
  `pg_receivewal --slot --endpos=<that LSN>` which fetches everything since the previous run and
  exits. Segments land in `<destination>/wal/`.
- **Base backups.** `pg_basebackup` (plain format, `--manifest-checksums=SHA256`, the WAL it needs
  included) when the newest verified base backup is older than `backups.base_backup_every` or the
  WAL chain broke; checked with `pg_verifybackup`, then proven by a recovery drill: base + every
  WAL segment since, recovered in a temporary cluster that must start and accept queries.
- **The slot cannot fill the disk.** A slot nobody reads holds WAL forever. The server's
  `max_slot_wal_keep_size` caps it (the slot is then invalidated: `wal_status = 'lost'`, and the
  next run takes a new base backup); each run reports the retained WAL and fails above
  `backups.max_retained_wal_mb`, and the daily health check watches it even when this DAG is off.
- **Recovery** (base backup + WAL in a cluster of its own) is `backups.recovery`.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analytics_ops.backups.pg_tools import (
    PgTarget,
    PgToolError,
    client_env,
    find_binary,
    run,
    server_major,
)
from analytics_ops.backups.storage import MANIFEST, backup_path, readable_folder, writable_folder

COVERED = "covered_until.json"
SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$")


class WalChainBroken(RuntimeError):
    """WAL needed for recovery is missing (a gap in the segments, or the slot was invalidated)."""


@dataclass(frozen=True)
class SlotState:
    slot: str
    created: bool
    wal_status: str | None
    retained_bytes: int
    max_slot_wal_keep_size: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "created": self.created,
            "wal_status": self.wal_status,
            "retained_mb": round(self.retained_bytes / 2**20, 1),
            "max_slot_wal_keep_size": self.max_slot_wal_keep_size,
        }


def slot_state(conn: Any, slot: str, *, create: bool) -> SlotState:
    """The backup slot's retained WAL and status; created (reserving WAL at once) if missing."""
    from analytics_ops.core.db import sql_file

    created = False
    row = conn.execute(sql_file("backups/slot_state"), {"slot": slot}).fetchone()
    if row is None and create:
        conn.execute("SELECT pg_create_physical_replication_slot(%(slot)s, true)", {"slot": slot})
        created = True
        row = conn.execute(sql_file("backups/slot_state"), {"slot": slot}).fetchone()
    keep = conn.execute("SHOW max_slot_wal_keep_size").fetchone()[0]
    conn.commit()
    if row is None:
        return SlotState(slot, False, None, 0, keep)
    return SlotState(slot, created, row[0], int(row[1] or 0), keep)


def reset_slot(conn: Any, slot: str) -> None:
    """Drop an invalidated slot and reserve WAL anew from now (a new base backup must follow)."""
    conn.execute(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %(slot)s",
        {"slot": slot},
    )
    conn.execute("SELECT pg_create_physical_replication_slot(%(slot)s, true)", {"slot": slot})
    conn.commit()


def take_base_backup(
    target: PgTarget, dest: Any, backup_id: str, settings: Any, *, application_name: str, parent: Any = None
) -> dict:
    """pg_basebackup into `dest`, checked by pg_verifybackup; our manifest (start WAL, sizes) written last.

    With `parent` (a catalogue entry of a base or incremental backup; PostgreSQL 17+), an incremental
    base backup: only the blocks changed since `parent` (`--incremental=<its backup_manifest>`). Its
    manifest names the parent and the whole chain, oldest first, that `pg_combinebackup` needs.
    """
    started = time.perf_counter()
    with target.connect() as conn:
        major = server_major(conn)
        version = conn.execute("SHOW server_version").fetchone()[0]
    basebackup = find_binary("pg_basebackup", major, settings.pg_bin_dir)
    verifybackup = find_binary("pg_verifybackup", major, settings.pg_bin_dir)
    with contextlib.ExitStack() as stack:
        incremental = []
        if parent is not None:
            parent_manifest = stack.enter_context(
                readable_folder(backup_path(parent.location) / "backup_manifest", single_file=True)
            )
            incremental = [f"--incremental={parent_manifest}"]
        folder = stack.enter_context(writable_folder(dest))
        env = stack.enter_context(client_env(target, application_name))
        run(
            [
                basebackup,
                *incremental,
                f"--pgdata={folder}",
                "--format=plain",
                "--wal-method=fetch",
                "--checkpoint=fast",
                "--manifest-checksums=SHA256",
                f"--label={backup_id}",
                "--no-password",
            ],
            env,
            target,
        )
        run([verifybackup, str(folder)], env, target)
        label = _backup_label(folder / "backup_label")
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        manifest = {
            "backup_id": backup_id,
            "kind": "base" if parent is None else "incremental",
            **(
                {"parent": parent.backup_id, "chain": [*parent.manifest.get("chain", [parent.backup_id]), backup_id]}
                if parent is not None
                else {}
            ),
            "server_version": version,
            "start_wal_file": label["start_wal_file"],
            "start_lsn": label["start_lsn"],
            "start_time": label["start_time"],
            "timeline": label["timeline"],
            "size_bytes": size,
            # A data directory needs its empty folders (pg_notify, pg_replslot, ...) to start; object
            # stores keep only files, so the folders are listed here and recreated by `recover`.
            "directories": sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_dir()),
            "verified_by": "pg_verifybackup",
            "taken_at": datetime.now(UTC).isoformat(),
            "seconds": round(time.perf_counter() - started, 3),
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def _backup_label(path: Path) -> dict[str, str]:
    text = path.read_text()
    start = re.search(r"START WAL LOCATION: (\S+) \(file (\S+)\)", text)
    timeline = re.search(r"START TIMELINE: (\d+)", text)
    when = re.search(r"START TIME: (.+)", text)
    if not (start and timeline and when):
        raise PgToolError(f"unexpected backup_label in {path}: {text[:300]!r}")
    return {
        "start_lsn": start.group(1),
        "start_wal_file": start.group(2),
        "timeline": timeline.group(1),
        "start_time": when.group(1).strip(),
    }


def fetch_wal(target: PgTarget, wal_dest: Any, settings: Any, *, application_name: str, timeout: float) -> dict:
    """Everything the slot holds, up to now, into `wal_dest` (complete segments, plus a partial one)."""
    with target.connect(autocommit=True) as conn:
        major = server_major(conn)
        # Close the current segment so what was written until now is in a complete file. The end
        # position is a small record past it; a second, transactional one (its commit is flushed)
        # puts WAL beyond that end on the wire, so pg_receivewal stops at once. Without it, it waits
        # for the next keepalive: 4-20 s per fetch instead of 0.3 s (measured).
        # Every transaction committed before this instant has its commit record before the switch,
        # so in the WAL this fetch stores: the newest point in time the WAL folder can recover to.
        covers_until = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        # A commit after that instant, in this segment: recovery to any time up to covers_until then
        # meets a later commit and stops there, instead of running out of WAL short of its target.
        conn.execute("SELECT pg_logical_emit_message(true, 'analytics-ops', 'wal fetch: covered until')")
        conn.execute("SELECT pg_switch_wal()")
        endpos = conn.execute("SELECT pg_logical_emit_message(false, 'analytics-ops', 'wal fetch')").fetchone()[0]
        conn.execute("SELECT pg_logical_emit_message(true, 'analytics-ops', 'wal fetch')")
    receivewal = find_binary("pg_receivewal", major, settings.pg_bin_dir)
    # An empty spool each run: pg_receivewal then starts at the slot's restart_lsn (the start of the
    # segment the last run ended in), never at a file left by an older chain (a slot recreated
    # after it was lost would not have that WAL any more).
    with tempfile.TemporaryDirectory(prefix="aops-wal-") as tmp, client_env(target, application_name) as env:
        spool = Path(tmp)
        proc = subprocess.Popen(
            [
                receivewal,
                f"--directory={spool}",
                f"--slot={settings.wal_slot}",
                f"--endpos={endpos}",
                "--no-loop",
                "--status-interval=1",
                "--synchronous",
                "--no-password",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            raise PgToolError(
                f"pg_receivewal did not reach {endpos} within {timeout:.0f}s: {err.strip()[-500:]}"
            ) from None
        if proc.returncode != 0:
            raise PgToolError(f"pg_receivewal exited with {proc.returncode}: {err.strip()[-1000:]}")
        fetched = wal_segments([p.name for p in spool.iterdir()])
        _store_segments(spool, fetched, wal_dest)
        # Written after the segments it describes (not a segment name: chains and retention ignore it).
        (wal_dest / COVERED).write_text(json.dumps({"covers_until": covers_until.isoformat(), "endpos": str(endpos)}))
    # Stored: the primary may recycle it. pg_receivewal confirms what it has flushed only in its
    # periodic feedback, which a quick fetch can end before sending.
    with target.connect(autocommit=True) as conn:
        conn.execute(
            "SELECT pg_replication_slot_advance(slot_name, %(endpos)s::pg_lsn) FROM pg_replication_slots "
            "WHERE slot_name = %(slot)s AND restart_lsn < %(endpos)s::pg_lsn",
            {"slot": settings.wal_slot, "endpos": str(endpos)},
        )
    return {
        "endpos": str(endpos),
        "covers_until": covers_until.isoformat(),
        "fetched": fetched,
        "newest": fetched[-1] if fetched else None,
    }


def covered_until(wal_dest: Any) -> datetime | None:
    """The newest point in time the WAL folder holds (its last fetch), or None before the first."""
    marker = wal_dest / COVERED
    if not marker.exists():
        return None
    return datetime.fromisoformat(json.loads(marker.read_text())["covers_until"])


def _store_segments(spool: Path, names: list[str], wal_dest: Any) -> None:
    """Copy fetched segments into the WAL folder; a partial one there is dropped once it is complete."""

    wal_dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        with (spool / name).open("rb") as source, (wal_dest / name).open("wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    stored = {p.name for p in wal_dest.iterdir()}
    for name in names:
        if not name.endswith(".partial") and f"{name}.partial" in stored:
            (wal_dest / f"{name}.partial").unlink()


def segment_number(name: str) -> tuple[int, int]:
    """(timeline, segment number) of a WAL file name (16 MB segments: 256 per 'log' id)."""
    match = SEGMENT.match(name)
    if not match:
        raise ValueError(f"{name} is not a WAL segment file name")
    return int(match.group(1), 16), int(match.group(2), 16) * 0x100 + int(match.group(3), 16)


def wal_segments(names: list[str]) -> list[str]:
    return sorted(name for name in names if SEGMENT.match(name))


def check_chain(start_wal_file: str, names: list[str]) -> dict[str, Any]:
    """Every segment from the base backup's first to the newest is there (only the newest may be partial)."""
    timeline, first = segment_number(start_wal_file)
    numbers = {}
    for name in wal_segments(names):
        tli, number = segment_number(name)
        if tli == timeline and number >= first:
            numbers.setdefault(number, name)
    if not numbers:
        return {"segments": 0, "newest": None}
    missing = [n for n in range(first + 1, max(numbers) + 1) if n not in numbers]
    partial = [name for number, name in numbers.items() if name.endswith(".partial") and number != max(numbers)]
    if missing or partial:
        raise WalChainBroken(
            f"WAL after base segment {start_wal_file} has gaps: {len(missing)} segment(s) missing"
            + (f" (first {missing[0]:X})" if missing else "")
            + (f"; partial segments before the newest: {partial}" if partial else "")
        )
    return {"segments": len(numbers), "newest": numbers[max(numbers)]}
