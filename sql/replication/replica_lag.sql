-- On a replica: WAL received but not replayed, and for how long. When everything received has
-- been replayed the replica is current, however old its last replayed commit is (an idle primary
-- writes no commits): zero lag. While WAL waits, the seconds since the last replayed commit are
-- the lag only when replay is paused: during one long transaction on the primary (a bulk load) a
-- replica that keeps up has replayed no commit for as long, though it is a few bytes behind. Then
-- the seconds are unknown here, and the gate judges the replica by its bytes and by the primary's
-- replay_lag, which is measured per WAL position, commits or not.
SELECT
    pg_is_in_recovery() AS in_recovery,
    pg_is_in_recovery() AND pg_is_wal_replay_paused() AS replay_paused,
    pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS unreplayed_bytes,
    CASE
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
        WHEN pg_is_in_recovery() AND pg_is_wal_replay_paused()
            THEN extract(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
    END AS lag_seconds
