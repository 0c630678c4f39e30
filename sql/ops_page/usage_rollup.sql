-- The usage rollup's standing for the Ops page: when analytics_usage_rollup last completed, up to
-- when it rolled up, how many organisation/model series there are and how many have events waiting.
SELECT
    (SELECT w.last_success_at FROM usage_rollup_watermark AS w) AS last_success_at,
    (SELECT w.rolled_up_through FROM usage_rollup_watermark AS w) AS rolled_up_through,
    count(*) AS series,
    count(*) FILTER (WHERE f.status <> 'current') AS behind
FROM freshness_status AS f
