-- Each replication slot and the WAL it keeps on this server's disk.
SELECT
    slot_name,
    slot_type,
    active,
    wal_status,
    pg_wal_lsn_diff(
        CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END,
        restart_lsn
    )::bigint AS retained_bytes
FROM pg_replication_slots
ORDER BY slot_name
