"""Recovery from a base backup and WAL, in a cluster of its own, never in production.

`start_recovered_cluster` copies a base backup into a new folder, puts the WAL segments beside it,
starts the cluster on its own port with `restore_command` and, if given, `recovery_target_time`,
and waits until it has promoted; `recover` is the same as a context manager that removes the
cluster afterwards (the restore drill). The server binaries run as `backups.os_user` when the worker
is root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import json
import os
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

from analytics_ops.backups.pg_tools import PgTarget, as_os_user, find_binary
from analytics_ops.backups.storage import MANIFEST, readable_folder
from analytics_ops.backups.wal import wal_segments


class RecoveryFailed(RuntimeError):
    """The recovered cluster did not start or promote; the message has the end of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class RecoveredCluster:
    """A cluster recovered from a base backup and WAL, running in `folder` (data directory `data`)."""

    folder: Path
    target: PgTarget
    pg_ctl: str
    os_user: str

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @property
    def socket_dir(self) -> Path:
        # Not inside `folder`: a Unix socket's path may not exceed 107 bytes, and a recovery folder
        # under a deep recovery_root would (seen: the cluster refused to start). Short, and
        # derived from the folder so that whoever stops the cluster finds it.
        import hashlib

        digest = hashlib.sha256(str(self.folder).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"aops-pg-{digest}"

    def stop(self, *, remove: bool) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                as_os_user([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"], self.os_user),
                capture_output=True,
                check=False,
            )
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)
            shutil.rmtree(self.socket_dir, ignore_errors=True)


def start_recovered_cluster(
    base_dest: Any,
    wal_dest: Any,
    settings: Any,
    *,
    folder: Path,
    port: int,
    target_time: datetime | None,
    template: PgTarget,
    server_major_version: int,
) -> RecoveredCluster:
    """Build `folder` (which must not exist) from a base backup and WAL, start it on `port`, recover
    to `target_time` (None: all WAL) and promote. On any failure the folder is removed.

    `base_dest` is one backup's folder, or a chain of them oldest first (a base backup and the
    incremental ones taken on top of it, PostgreSQL 17+), which `pg_combinebackup` merges into one
    data directory first.
    """
    pg_ctl = find_binary("pg_ctl", server_major_version, settings.pg_bin_dir)
    folder.mkdir(parents=True)
    cluster = RecoveredCluster(
        folder, PgTarget("127.0.0.1", port, template.user, template.dbname, template.password), pg_ctl, settings.os_user
    )
    data, wal, socket_dir = cluster.data, folder / "wal", cluster.socket_dir
    try:
        chain = base_dest if isinstance(base_dest, list) else [base_dest]
        with contextlib.ExitStack() as stack:
            members = [stack.enter_context(readable_folder(dest)) for dest in chain]
            for member in members:  # object stores keep no empty folders: pg_combinebackup wants them
                for name in json.loads((member / MANIFEST).read_text()).get("directories", []):
                    (member / name).mkdir(parents=True, exist_ok=True)
            if len(members) == 1:
                shutil.copytree(members[0], data, ignore=shutil.ignore_patterns(MANIFEST))
            else:
                combine = find_binary("pg_combinebackup", server_major_version, settings.pg_bin_dir)
                combined = subprocess.run(
                    [combine, *map(str, members), "--output", str(data)], capture_output=True, text=True, check=False
                )
                if combined.returncode != 0:
                    raise RecoveryFailed(f"pg_combinebackup failed: {combined.stderr.strip()[-1500:]}")
                (data / MANIFEST).unlink(missing_ok=True)
        wal.mkdir()
        with readable_folder(wal_dest) as segments:
            names = wal_segments([p.name for p in segments.iterdir()])
            for name in names:
                if name.endswith(".partial") and name.removesuffix(".partial") in names:
                    continue
                # The newest segment may still be partial: recovery reads it under its full name.
                shutil.copy2(segments / name, wal / name.removesuffix(".partial"))
        socket_dir.mkdir(exist_ok=True)
        _hand_to(socket_dir, settings.os_user)
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
            conf.write("\n# analytics-ops recovery\n" + "\n".join(settings_lines) + "\n")
        _hand_to(folder, settings.os_user)
        data.chmod(0o700)
        started = subprocess.run(
            as_os_user([pg_ctl, "-D", str(data), "-l", str(cluster.log), "-w", "-t", "300", "start"], settings.os_user),
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            raise RecoveryFailed(f"the recovered cluster did not start: {_tail(cluster.log)}")
        wait_promoted(cluster.target, cluster.log)
    except BaseException:
        cluster.stop(remove=True)
        raise
    return cluster


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
    work = Path(tempfile.mkdtemp(prefix="aops-recovery-"))
    _hand_to(work, settings.os_user)  # the server's OS user must reach the cluster's folder inside
    try:
        cluster = start_recovered_cluster(
            base_dest,
            wal_dest,
            settings,
            folder=work / "cluster",
            port=free_port(),
            target_time=target_time,
            template=template,
            server_major_version=server_major_version,
        )
        try:
            yield cluster.target
        finally:
            cluster.stop(remove=True)
    finally:
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


def wait_promoted(target: PgTarget, log: Path, timeout: float = 300) -> None:
    """Until the cluster at `target` accepts the role and has left recovery; RecoveryFailed with its log."""
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
