"""Where backups live: a URL read through Airflow's `ObjectStoragePath`, and the files' checksums.

`backups.destination` is a URL (`file:///var/backups/analytics-ops` by default; `s3://bucket/prefix`
or `gs://...` once the Amazon or Google provider is installed, with the provider's connection).
Postgres's tools write to local disk: for a local destination they write into it directly; for a
remote one they write to a temporary folder whose files are then uploaded (and downloaded again
for verification).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def destination_root(settings: Any) -> Any:
    """The backups' root as an ObjectStoragePath: $ANALYTICS_OPS_BACKUP_DESTINATION or the config."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(os.environ.get("ANALYTICS_OPS_BACKUP_DESTINATION") or settings.destination)


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
def readable_folder(src: Any) -> Iterator[Path]:
    """A local folder with the backup at `src` (downloaded to a temporary folder if remote)."""
    local = local_path(src)
    if local is not None:
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="aops-restore-") as tmp:
        work = Path(tmp) / "backup"
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
    for file in files:
        target = dest / file.relative_to(local).as_posix()
        with file.open("rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, _CHUNK)


def download(src: Any, local: Path) -> None:
    base = str(src.path).rstrip("/")
    for entry in src.rglob("*"):
        if entry.is_dir():
            continue
        target = local / str(entry.path)[len(base) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        with entry.open("rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, _CHUNK)


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
