-- On a replica: WAL received but not replayed, and for how long. When everything received has
-- been replayed the replica is current, however old its last replayed commit is (an idle primary
-- writes no commits): that is zero lag, not the age of the last commit.
SELECT
    pg_is_in_recovery() AS in_recovery,
    pg_is_in_recovery() AND pg_is_wal_replay_paused() AS replay_paused,
    pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS unreplayed_bytes,
    CASE
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
        ELSE extract(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
    END AS lag_seconds
