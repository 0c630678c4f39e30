-- Blocks found in shared buffers and blocks read, for this database since its statistics reset.
SELECT
    blks_hit,
    blks_read,
    stats_reset
FROM pg_stat_database
WHERE datname = current_database()
