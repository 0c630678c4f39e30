-- migration: outside a transaction
-- analytics_usage_rollup finds what arrived since its last run, and freshness_status what is still
-- waiting, by arrival time. Built concurrently: usage_events takes the ingest's writes all along.
CREATE INDEX CONCURRENTLY IF NOT EXISTS usage_events_received_at_idx ON usage_events (received_at);
