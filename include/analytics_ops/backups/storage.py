"""Where backups live: a URL read through Airflow's `ObjectStoragePath`, and the files' checksums.

`backups.destination` is a URL (`file:///var/backups/analytics-ops` by default; `sftp://host/path`
with the Airflow connection `backups.destination_connection`; `s3://bucket/prefix` or `gs://...`
once the Amazon or Google provider is installed, with the provider's connection). Postgres's tools
write to local disk: for a local destination they write into it directly; for a remote one they
write to a temporary folder whose files are then uploaded (and downloaded again for verification).

A backup written by one worker must be verifiable, restorable and expired by any other: a `file://`
destination is refused when the executor spreads tasks over hosts, unless the config says that
folder is one shared by every worker (`backups.destination_shared_by_workers`).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MANIFEST = "manifest.json"
DESTINATION_ENV = "ANALYTICS_OPS_BACKUP_DESTINATION"
# Set beside it where the deployment knows better than the config file: "true" when that folder is
# one every worker shares (compose's named volume on one Docker host, the local stack's folder).
DESTINATION_SHARED_ENV = "ANALYTICS_OPS_BACKUP_DESTINATION_SHARED"
LOCAL_SCHEMES = ("file", "local")
# Executors that run every task on the scheduler's own host; any other (Celery, Kubernetes, Edge,
# a custom one) may run a backup on one host and its verification on another.
SINGLE_HOST_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor"})
_CHUNK = 1 << 20


class DestinationNotShared(RuntimeError):
    """The backup destination is a folder of each worker's own disk, and tasks run on several hosts."""


class DestinationMisconfigured(RuntimeError):
    """The destination, or its Airflow connection, cannot be used as configured."""


def destination_url(settings: Any) -> tuple[str, str]:
    """The destination URL and the setting it comes from (the environment variable wins)."""
    if override := os.environ.get(DESTINATION_ENV):
        return override, f"{DESTINATION_ENV} (which overrides backups.destination)"
    return settings.destination, "backups.destination"


def configured_executors() -> list[str]:
    """Airflow's `[core] executor`, one entry per configured executor (read from config: no DB)."""
    from airflow.configuration import conf

    value = conf.get("core", "executor", fallback="LocalExecutor") or "LocalExecutor"
    return [item.strip() for item in value.split(",") if item.strip()]


def spreads_over_hosts(executors: list[str]) -> bool:
    """Whether any executor may run tasks on another host ("[alias:]module.Class" or "Class")."""
    return any(name.rsplit(":", 1)[-1].rsplit(".", 1)[-1] not in SINGLE_HOST_EXECUTORS for name in executors)


def unshared_destination_problem(url: str, source: str, *, shared: bool, executors: list[str]) -> str | None:
    """Why this destination cannot work across the executor's hosts, or None when it can (pure)."""
    if urlsplit(url).scheme not in LOCAL_SCHEMES or shared or not spreads_over_hosts(executors):
        return None
    return (
        f"{source} is {url}, a folder on each worker's own disk, but Airflow's [core] executor is "
        f"{', '.join(executors)}, which runs tasks on several hosts: a backup written by one worker could "
        "not be verified, restored or expired by another. Set backups.destination to a place every worker "
        "reaches (sftp://host/path with backups.destination_connection, s3://, gs://; see docs/backups.md), "
        "or, if that folder is one shared mount (e.g. NFS) on every worker, set "
        f"backups.destination_shared_by_workers: true (or {DESTINATION_SHARED_ENV}=true). "
        "Nothing was backed up, verified, restored or deleted."
    )


def destination_shared(settings: Any) -> bool:
    """backups.destination_shared_by_workers, or $ANALYTICS_OPS_BACKUP_DESTINATION_SHARED when set."""
    override = os.environ.get(DESTINATION_SHARED_ENV, "").strip().lower()
    if override:
        return override in ("1", "true", "yes")
    return settings.destination_shared_by_workers


def check_destination_shared(settings: Any) -> None:
    """Refuse (DestinationNotShared) a worker-local destination when tasks run on several hosts."""
    url, source = destination_url(settings)
    shared = destination_shared(settings)
    if urlsplit(url).scheme not in LOCAL_SCHEMES or shared:
        return  # decided without reading Airflow's config
    problem = unshared_destination_problem(url, source, shared=shared, executors=configured_executors())
    if problem:
        raise DestinationNotShared(problem)


def destination_root(settings: Any) -> Any:
    """The backups' root as an ObjectStoragePath, after the check that every worker reaches it."""
    from airflow.sdk import ObjectStoragePath

    check_destination_shared(settings)
    url, source = destination_url(settings)
    conn_id = settings.destination_connection
    if urlsplit(url).scheme == "sftp":
        if not conn_id:
            raise DestinationMisconfigured(
                f"{source} is {url}, an SFTP server: set backups.destination_connection to the id of the "
                "Airflow connection with its host, port, login and key (see docs/backups.md)"
            )
        _check_sftp_host(url, source, conn_id)
        attach_sftp(conn_id)
    return ObjectStoragePath(url, conn_id=conn_id) if conn_id else ObjectStoragePath(url)


def backup_path(location: str) -> Any:
    """An ObjectStoragePath for a location recorded in the catalogue (`str()` of a backup's path)."""
    from airflow.sdk import ObjectStoragePath

    parts = urlsplit(location)
    if parts.scheme == "sftp":
        conn_id = parts.netloc.rpartition("@")[0]
        if not conn_id:
            raise DestinationMisconfigured(f"{location}: an SFTP backup location without its connection id")
        attach_sftp(conn_id)
    return ObjectStoragePath(location)


def _check_sftp_host(url: str, source: str, conn_id: str) -> None:
    from airflow.sdk import BaseHook

    host = urlsplit(url).hostname
    conn_host = BaseHook.get_connection(conn_id).host
    if host and conn_host and host != conn_host:
        raise DestinationMisconfigured(
            f"{source} names host {host} but its connection {conn_id} (backups.destination_connection) "
            f"reaches {conn_host}: the connection decides where backups go; make them agree"
        )


def attach_sftp(conn_id: str) -> None:
    """Make `sftp://` paths of connection `conn_id` use fsspec's SFTP filesystem with its credentials.

    Airflow resolves a path's filesystem through `attach(protocol, conn_id)`; its own sftp filesystem
    (apache-airflow-providers-sftp 7.0) hands a `private_key` extra to asyncssh as a *file name*,
    which fails and puts the key in the error. This builds the filesystem from the connection here.
    """
    from airflow.sdk.io import attach
    from fsspec.implementations.sftp import SFTPFileSystem

    store = attach("sftp", conn_id=conn_id)
    if not isinstance(vars(store).get("fs"), SFTPFileSystem):
        store.fs = sftp_filesystem(conn_id)


def sftp_filesystem(conn_id: str) -> Any:
    """fsspec's SFTPFileSystem (paramiko) logged in with the Airflow connection `conn_id`.

    The secret is the connection's password or its `private_key` extra (the key's text, with
    `private_key_passphrase` if it is encrypted); the server must present the key in the `host_key`
    extra (`ssh-ed25519 AAAA...`), unless `no_host_key_check` is true.
    """
    from airflow.sdk import BaseHook
    from fsspec.implementations.sftp import SFTPFileSystem

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    if not conn.host or not conn.login:
        raise DestinationMisconfigured(f"connection {conn_id}: an SFTP destination needs its host and login")
    options: dict[str, Any] = {
        "port": int(conn.port or 22),
        "username": conn.login,
        "host_key_policy": _host_key_policy(conn_id, extra),
        # Only the connection's secret: no keys from the worker's ~/.ssh, no agent.
        "look_for_keys": False,
        "allow_agent": False,
        "timeout": 30,
        "banner_timeout": 30,
        "auth_timeout": 30,
    }
    if conn.password:
        options["password"] = conn.password
    if extra.get("private_key"):
        options["pkey"] = _private_key(conn_id, extra["private_key"], extra.get("private_key_passphrase"))
    if "password" not in options and "pkey" not in options:
        raise DestinationMisconfigured(
            f"connection {conn_id}: give the SFTP login's password or a private_key extra (the key's text)"
        )
    return SFTPFileSystem(conn.host, skip_instance_cache=True, **options)


def _private_key(conn_id: str, text: str, passphrase: str | None) -> Any:
    import paramiko

    for key_type in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_type.from_private_key(io.StringIO(text), password=passphrase or None)
        except (paramiko.SSHException, ValueError):
            continue
    # Never the key's text in the message: it ends up in the task log.
    raise DestinationMisconfigured(
        f"connection {conn_id}: the private_key extra is not an Ed25519, ECDSA or RSA private key in OpenSSH or "
        "PEM format, or private_key_passphrase does not open it"
    )


def _host_key_policy(conn_id: str, extra: dict[str, Any]) -> Any:
    import paramiko

    expected = str(extra.get("host_key") or "").split()
    skip = str(extra.get("no_host_key_check", "")).lower() == "true"
    if not expected and not skip:
        raise DestinationMisconfigured(
            f"connection {conn_id}: set the host_key extra to the SFTP server's public host key "
            "(`ssh-keyscan -t ed25519 HOST`, without the host name: `ssh-ed25519 AAAA...`); "
            "no_host_key_check: true accepts any server (and so a man in the middle)"
        )

    class PinnedHostKey(paramiko.MissingHostKeyPolicy):
        # The client knows no hosts, so paramiko asks this policy about every server it meets.
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            if skip and not expected:
                return
            presented = [key.get_name(), key.get_base64()]
            if presented != expected[:2]:
                raise paramiko.SSHException(
                    f"the SFTP server {hostname} presented host key {presented[0]} {presented[1][:16]}..., "
                    f"not the one in connection {conn_id}'s host_key extra: refusing to connect"
                )

    return PinnedHostKey()


def local_path(path: Any) -> Path | None:
    """The local folder behind `path`, or None when it is remote."""
    return Path(path.path) if path.protocol in ("file", "local") else None


@contextmanager
def writable_folder(dest: Any) -> Iterator[Path]:
    """A local folder to write a backup into; uploaded to `dest` afterwards if `dest` is remote.

    `dest` is emptied first: a re-run of the same backup replaces what an earlier attempt left.
    """
    remove_tree(dest)
    local = local_path(dest)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="aops-backup-") as tmp:
        work = Path(tmp) / "backup"
        yield work
        upload(work, dest)


@contextmanager
def readable_folder(src: Any, *, single_file: bool = False) -> Iterator[Path]:
    """A local folder with the backup at `src` (downloaded to a temporary folder if remote); with
    `single_file`, `src` is one file of a backup and so is what is yielded."""
    local = local_path(src)
    if local is not None:
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="aops-restore-") as tmp:
        work = Path(tmp) / ("file" if single_file else "backup")
        if single_file:
            src.fs.get_file(str(src.path), str(work))
        else:
            download(src, work)
        yield work


def remove_tree(path: Any) -> bool:
    """Delete a backup folder wherever it is; False if there was nothing."""
    if not path.exists():
        return False
    path.fs.rm(path.path, recursive=True)
    return True


def upload(local: Path, dest: Any) -> None:
    # The manifest goes last: a remote folder without one is an upload that did not finish.
    files = sorted((p for p in local.rglob("*") if p.is_file()), key=lambda p: (p.name == MANIFEST, str(p)))
    # put_file/get_file: the filesystem's own transfer (it creates the parent folders an SFTP server
    # needs; SFTP pipelines its writes: copying through open() was 6x slower, measured).
    fs = dest.fs
    for file in files:
        fs.put_file(str(file), (dest / file.relative_to(local).as_posix()).path)


def download(src: Any, local: Path) -> None:
    fs, base = src.fs, str(src.path).rstrip("/")
    for remote in fs.find(base):
        target = local / remote[len(base) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(remote, str(target))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_files(folder: Path, *, skip: tuple[str, ...] = (MANIFEST,)) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file under `folder` (hashlib releases the GIL: files hash in parallel)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() not in skip)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        digests = list(pool.map(sha256_of, files))
    return {
        file.relative_to(folder).as_posix(): {"sha256": digest, "bytes": file.stat().st_size}
        for file, digest in zip(files, digests, strict=True)
    }


def compare_checksums(expected: dict[str, dict[str, Any]], folder: Path) -> list[str]:
    """What differs between the manifest's files and the folder's: one line per problem."""
    actual = checksum_files(folder)
    problems = [f"{name}: missing" for name in sorted(expected.keys() - actual.keys())]
    problems += [f"{name}: not in the manifest" for name in sorted(actual.keys() - expected.keys())]
    problems += [
        f"{name}: sha256 {actual[name]['sha256'][:12]}… != manifest {expected[name]['sha256'][:12]}… "
        f"({actual[name]['bytes']} bytes, manifest {expected[name]['bytes']})"
        for name in sorted(expected.keys() & actual.keys())
        if actual[name]["sha256"] != expected[name]["sha256"]
    ]
    return problems
