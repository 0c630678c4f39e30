-- On the primary: each streaming replica attached to it, with the WAL it has not replayed yet.
-- replay_lag is NULL when the primary has been idle; with no bytes outstanding that is zero lag.
SELECT
    coalesce(nullif(application_name, ''), 'replica') || '@' || coalesce(host(client_addr), 'local') AS replica,
    state,
    pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
    extract(EPOCH FROM replay_lag)::float8 AS replay_lag_seconds
FROM pg_stat_replication
ORDER BY replica
