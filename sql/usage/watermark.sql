-- Where analytics_usage_rollup stands (no row: it never finished a run), and this run's start.
SELECT
    (SELECT w.rolled_up_through FROM usage_rollup_watermark AS w) AS rolled_up_through,
    clock_timestamp() AS run_start
