-- The continuous evaluator's error-rate and latency checks read the last 20 minutes of every
-- organisation's usage events every minute: by time, not by organisation.
CREATE INDEX IF NOT EXISTS usage_events_occurred_at_idx ON usage_events (occurred_at);
