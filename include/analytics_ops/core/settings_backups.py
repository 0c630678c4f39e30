"""Config section of the backups: where they go, how they are taken, verified and kept."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from analytics_ops.core.config_types import Duration, _Strict


class BackupSettings(_Strict):
    destination: str = Field(
        "file:///var/backups/analytics-ops",
        description=(
            "Where backups go, as a URL read through Airflow's ObjectStoragePath: file:///path by default; "
            "sftp://host/path (with destination_connection); s3://bucket/prefix or gs://... once the "
            "Amazon/Google provider is installed. The environment variable ANALYTICS_OPS_BACKUP_DESTINATION, "
            "when set, wins (the local stack sets it)."
        ),
    )
    destination_shared_by_workers: bool = Field(
        False,
        description=(
            "A backup taken by one worker is verified, restored and expired by whichever worker runs those "
            "tasks. With an executor that runs tasks on several hosts (anything but LocalExecutor), a file:// "
            "destination is refused unless it is one folder shared by every worker (e.g. the same NFS mount): "
            "then set this to true. Remote destinations (sftp://, s3://, gs://) are shared by nature."
        ),
    )
    destination_connection: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]{1,250}$",
        description=(
            "Airflow connection id for the destination, e.g. for sftp://host/path an SFTP connection with the "
            "host, port, login, and the secret: password or private_key extra, plus the server's host_key extra"
            " (docs/backups.md). null for file:// (and for s3:// or gs:// with the provider's default)."
        ),
    )
    retention_days: int = Field(
        30,
        ge=1,
        description=(
            "Backups older than this are deleted, except the newest verified full backup and the base backup + "
            "WAL that the newest restorable point needs."
        ),
    )
    dump_jobs: int = Field(
        4,
        ge=1,
        le=64,
        description="pg_dump -j / pg_restore -j workers (each a database connection); capped at the worker's cores.",
    )
    restore_jobs: int = Field(
        4,
        ge=1,
        le=64,
        description="pg_restore -j workers of the verification restore (capped at the worker's cores).",
    )
    compression_level: int = Field(
        1,
        ge=0,
        le=9,
        description=(
            "pg_dump's gzip level per file (0-9): 1 is several times faster than gzip's default 6 for ~10-20% "
            "more bytes."
        ),
    )
    lock_wait_timeout: Duration = Field(
        timedelta(seconds=30),
        description="pg_dump gives up instead of queueing behind an exclusive lock (it would block others).",
    )
    statement_timeout: Duration = Field(
        timedelta(hours=4),
        description="For the row counts taken in the dump's snapshot and in the verification database.",
    )
    base_backup_every: Duration = Field(
        timedelta(days=7),
        description="A new physical base backup when the newest verified one is older than this (WAL fills the gap).",
    )
    wal_slot: str = Field(
        "aops_backup_wal",
        pattern=r"^[a-z0-9_]{1,63}$",
        description="Physical replication slot pg_receivewal reads WAL through.",
    )
    max_retained_wal_mb: int = Field(
        8192,
        ge=16,
        description=(
            "The incremental DAG fails (and the health check warns) when the slot holds more WAL than this; "
            "also set max_slot_wal_keep_size on the server so a stopped DAG cannot fill its disk."
        ),
    )
    pg_bin_dir: str | None = Field(
        None,
        description=(
            "Directory of pg_dump, pg_restore, pg_basebackup, ... of the server's major version; null = look in"
            " /usr/lib/postgresql/<major>/bin, then PATH."
        ),
    )
    os_user: str = Field(
        "postgres",
        description="Unprivileged OS user that runs the temporary cluster of a restore drill when the worker is root.",
    )
    scratch_database_prefix: str = Field(
        "aops_scratch_",
        pattern=r"^[a-z_][a-z0-9_]{0,30}$",
        description="Verification restores into <prefix><backup id>, dropped afterwards.",
    )

    @model_validator(mode="after")
    def _destination_is_a_url(self) -> BackupSettings:
        if "://" not in self.destination:
            raise ValueError(f"backups.destination must be a URL such as file:///var/backups, got {self.destination!r}")
        if self.destination.startswith("sftp://") and not self.destination_connection:
            raise ValueError(
                "backups.destination is an SFTP server: set backups.destination_connection to the Airflow "
                "connection with its host, login and key"
            )
        return self
