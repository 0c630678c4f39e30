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
- **Point-in-time recovery** (`recover`): base backup + WAL in a temporary cluster, with
  `recovery_target_time`; the server binaries run as `backups.os_user` when the worker is root.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analytics_ops.backups.pg_tools import (
    PgTarget,
    PgToolError,
    as_os_user,
    client_env,
    find_binary,
    run,
    server_major,
)
from analytics_ops.backups.storage import MANIFEST, readable_folder, writable_folder

SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$")


class WalChainBroken(RuntimeError):
    """WAL needed for recovery is missing (a gap in the segments, or the slot was invalidated)."""


class RecoveryFailed(RuntimeError):
    """The temporary cluster did not recover; the message has the end of its log."""


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


def take_base_backup(target: PgTarget, dest: Any, backup_id: str, settings: Any, *, application_name: str) -> dict:
    """pg_basebackup into `dest`, checked by pg_verifybackup; our manifest (start WAL, sizes) written last."""
    started = time.perf_counter()
    with target.connect() as conn:
        major = server_major(conn)
        version = conn.execute("SHOW server_version").fetchone()[0]
    basebackup = find_binary("pg_basebackup", major, settings.pg_bin_dir)
    verifybackup = find_binary("pg_verifybackup", major, settings.pg_bin_dir)
    with writable_folder(dest) as folder, client_env(target, application_name) as env:
        run(
            [
                basebackup,
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
            "kind": "base",
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
    # Stored: the primary may recycle it. pg_receivewal confirms what it has flushed only in its
    # periodic feedback, which a quick fetch can end before sending.
    with target.connect(autocommit=True) as conn:
        conn.execute(
            "SELECT pg_replication_slot_advance(slot_name, %(endpos)s::pg_lsn) FROM pg_replication_slots "
            "WHERE slot_name = %(slot)s AND restart_lsn < %(endpos)s::pg_lsn",
            {"slot": settings.wal_slot, "endpos": str(endpos)},
        )
    return {"endpos": str(endpos), "fetched": fetched, "newest": fetched[-1] if fetched else None}


def _store_segments(spool: Path, names: list[str], wal_dest: Any) -> None:
    """Copy fetched segments into the WAL folder; a partial one there is dropped once it is complete."""
    import shutil

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def recover(
    base_dest: Any,
    wal_dest: Any,
    settings: Any,
    *,
    target_time: datetime | None,
    template: PgTarget,
    server_major_version: int,
) -> Iterator[PgTarget]:
    """A temporary cluster recovered from a base backup and WAL, to `target_time` (None: all WAL).

    Yields where to connect (the same role and password as the primary's); stops and removes the
    cluster afterwards.
    """
    pg_ctl = find_binary("pg_ctl", server_major_version, settings.pg_bin_dir)
    work = Path(tempfile.mkdtemp(prefix="aops-recovery-"))
    data, wal, socket_dir = work / "data", work / "wal", work / "run"
    port = _free_port()
    try:
        with readable_folder(base_dest) as base:
            shutil.copytree(base, data, ignore=shutil.ignore_patterns(MANIFEST))
            for folder in json.loads((base / MANIFEST).read_text()).get("directories", []):
                (data / folder).mkdir(parents=True, exist_ok=True)
        wal.mkdir()
        with readable_folder(wal_dest) as segments:
            names = wal_segments([p.name for p in segments.iterdir()])
            for name in names:
                if name.endswith(".partial") and name.removesuffix(".partial") in names:
                    continue
                # The newest segment may still be partial: recovery reads it under its full name.
                shutil.copy2(segments / name, wal / name.removesuffix(".partial"))
        socket_dir.mkdir()
        (data / "recovery.signal").touch()
        settings_lines = [
            f"port = {port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{socket_dir}'",
            f'restore_command = \'cp "{wal}/%f" "%p"\'',
            "recovery_target_action = 'promote'",
            "archive_mode = off",
            "shared_buffers = '128MB'",
            "log_min_messages = warning",
        ]
        if target_time is not None:
            settings_lines.append(f"recovery_target_time = '{target_time.astimezone(UTC).isoformat()}'")
        with (data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n# analytics-ops recovery drill\n" + "\n".join(settings_lines) + "\n")
        _hand_to(work, settings.os_user)
        data.chmod(0o700)
        log = work / "server.log"
        started = subprocess.run(
            as_os_user([pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "300", "start"], settings.os_user),
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            raise RecoveryFailed(f"the recovered cluster did not start: {_tail(log)}")
        target = PgTarget("127.0.0.1", port, template.user, template.dbname, template.password)
        _wait_promoted(target, log)
        yield target
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                as_os_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], settings.os_user),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(work, ignore_errors=True)


def _hand_to(path: Path, os_user: str) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, os_user)
        for item in path.rglob("*"):
            shutil.chown(item, os_user)


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text().strip().splitlines()[-8:])
    except OSError:
        return "(no server log)"


def _wait_promoted(target: PgTarget, log: Path, timeout: float = 300) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with target.connect(autocommit=True, connect_timeout=5) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return
        except psycopg.OperationalError:
            pass
        time.sleep(0.2)
    raise RecoveryFailed(f"the recovered cluster was still recovering after {timeout:.0f}s: {_tail(log)}")
