-- Runbook 003's usage rollups and their freshness, kept by analytics_usage_rollup (every 2 minutes).
--
-- usage_rollup_hourly: per organisation, model and UTC hour of occurrence, what the Usage and
-- Reliability APIs of runbook 003 report (events by status, tokens, cost, latency percentiles).
-- A bucket is always recomputed whole from usage_events, so a re-run or a late event never counts
-- anything twice.
CREATE TABLE IF NOT EXISTS usage_rollup_hourly (
    org_id text NOT NULL,
    model_id text NOT NULL,
    hour timestamptz NOT NULL,
    events bigint NOT NULL CHECK (events >= 0),
    successes bigint NOT NULL,
    errors bigint NOT NULL,
    timeouts bigint NOT NULL,
    throttled bigint NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cost_estimate_cents numeric(16, 4) NOT NULL,
    latency_p50_ms double precision,
    latency_p95_ms double precision,
    latency_p99_ms double precision,
    first_event_at timestamptz NOT NULL,
    last_event_at timestamptz NOT NULL,
    rolled_up_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (org_id, model_id, hour)
);

-- Each organisation and model the rollup has seen: the newest event it rolled up (by arrival) and
-- when the rollup last covered it (every run covers every series up to the run's start).
CREATE TABLE IF NOT EXISTS usage_rollup_series (
    org_id text NOT NULL,
    model_id text NOT NULL,
    last_event_at timestamptz,
    last_rollup_at timestamptz,
    PRIMARY KEY (org_id, model_id)
);

-- Where the rollup stands: every event received up to rolled_up_through is in the rollups (one row).
CREATE TABLE IF NOT EXISTS usage_rollup_watermark (
    singleton boolean PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    rolled_up_through timestamptz NOT NULL,
    last_success_at timestamptz NOT NULL
);

-- The earlier freshness_status (one row per model, written by an external worker) is kept under
-- another name: its rows are not lost, and nothing of the suite reads it any more.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_class AS c
        WHERE c.oid = to_regclass('freshness_status') AND c.relkind = 'r'
    ) THEN
        ALTER TABLE freshness_status RENAME TO freshness_status_before_018;
    END IF;
END
$$;

-- Runbook 003's freshness_status, in the shape its "Check Freshness Status" query reads, computed
-- when read (a stalled rollup cannot leave a stale "fresh" behind): per organisation and model, the
-- newest event, when the rollup last covered it, and lag_seconds = how long the oldest event not yet
-- rolled up has waited (0 when none waits). status: 'current' (nothing waits), 'behind' (events
-- wait), 'never_rolled_up' (events of a series the rollup has not covered yet).
CREATE OR REPLACE VIEW freshness_status AS
WITH waiting AS (
    SELECT
        e.org_id,
        e.model_id,
        min(e.received_at) AS oldest,
        max(e.received_at) AS newest
    FROM usage_events AS e
    WHERE e.received_at > coalesce((SELECT w.rolled_up_through FROM usage_rollup_watermark AS w), '-infinity')
    GROUP BY e.org_id, e.model_id
)

SELECT
    coalesce(s.org_id, w.org_id) AS org_id,
    coalesce(s.model_id, w.model_id) AS model_id,
    greatest(s.last_event_at, w.newest) AS last_event_at,
    s.last_rollup_at,
    coalesce(greatest(extract(EPOCH FROM now() - w.oldest), 0), 0)::float8 AS lag_seconds,
    CASE
        WHEN w.oldest IS NULL THEN 'current'
        WHEN s.last_rollup_at IS NULL THEN 'never_rolled_up'
        ELSE 'behind'
    END AS status
FROM usage_rollup_series AS s
FULL JOIN waiting AS w ON s.org_id = w.org_id AND s.model_id = w.model_id;

-- The runbook's query names it analytics.freshness_status: on call can paste it as written.
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE OR REPLACE VIEW analytics.freshness_status AS
SELECT
    org_id,
    model_id,
    last_event_at,
    last_rollup_at,
    lag_seconds,
    status
FROM public.freshness_status;
