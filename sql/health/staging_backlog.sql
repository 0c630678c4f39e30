-- Runbook 000: rows waiting in the ingest staging table, and how long the oldest has waited.
SELECT
    count(*) AS waiting,
    extract(EPOCH FROM clock_timestamp() - min(received_at))::float8 AS oldest_seconds
FROM analytics_events_stage
