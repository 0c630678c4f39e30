-- Backups the suite took, where they are, and whether a restore from them has been verified.
-- A backup counts only once verified_at is set.
CREATE TABLE IF NOT EXISTS ops.backups (
    backup_id text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('full', 'base')),
    location text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    size_bytes bigint,
    server_version text,
    manifest jsonb NOT NULL DEFAULT '{}',
    verified_at timestamptz,
    verification jsonb,
    deleted_at timestamptz,
    dag_id text,
    run_id text
);
CREATE INDEX IF NOT EXISTS backups_kind_verified_idx ON ops.backups (kind, verified_at DESC);
