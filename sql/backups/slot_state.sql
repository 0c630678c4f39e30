-- The backup slot's status and the WAL it holds back on the primary (bytes since its restart_lsn).
SELECT
    wal_status,
    pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes
FROM pg_replication_slots
WHERE slot_name = %(slot)s
