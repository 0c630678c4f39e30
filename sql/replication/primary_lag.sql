-- On the primary: every WAL sender, what kind of client it serves, and the WAL it has not replayed.
-- A read replica is a physical standby, and a standby reports what it has replayed: a WAL archiver
-- (pg_receivewal, Barman's streaming archiver, pg_basebackup's WAL stream) never does, so its
-- replay_lsn is NULL; logical replication and decoding hold a logical slot. Only 'standby' rows
-- count towards the replica-lag gate (docs/alerting.md). replay_lag is NULL once the primary has
-- been idle; with no bytes outstanding that is zero lag.
SELECT
    coalesce(nullif(r.application_name, ''), 'replica') || '@' || coalesce(host(r.client_addr), 'local') AS replica,
    r.application_name,
    r.state,
    CASE
        WHEN s.slot_type = 'logical' THEN 'logical'
        WHEN r.replay_lsn IS NULL THEN 'wal_archiver'
        ELSE 'standby'
    END AS kind,
    pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint AS lag_bytes,
    extract(EPOCH FROM r.replay_lag)::float8 AS replay_lag_seconds
FROM pg_stat_replication AS r
LEFT JOIN pg_replication_slots AS s ON r.pid = s.active_pid
ORDER BY replica
