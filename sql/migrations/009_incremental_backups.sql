-- Incremental base backups (PostgreSQL 17 and later, pg_basebackup --incremental): a third kind of
-- backup in the catalogue. Each one's manifest names its parent and its whole chain.
ALTER TABLE ops.backups DROP CONSTRAINT IF EXISTS backups_kind_check;
ALTER TABLE ops.backups ADD CONSTRAINT backups_kind_check CHECK (kind IN ('full', 'base', 'incremental'));
