-- Small fixed data for the other runbooks' jobs, relative to %(last_day)s: finished, running and
-- stuck processing jobs over 120 days, email history over 400 days, hourly transaction rollups for
-- 14 days, alert rules with open and resolved alerts, a freshness row, a small staging backlog.
INSERT INTO processing_jobs (job_type, status, created_at, started_at, completed_at, error_message)
SELECT
    'ingest',
    'completed',
    t,
    t + interval '1 minute',
    t + interval '6 minutes',
    NULL
FROM generate_series(
    (%(last_day)s::date - 120)::timestamp AT TIME ZONE 'UTC',
    (%(last_day)s::date)::timestamp AT TIME ZONE 'UTC',
    interval '6 hours'
) AS t;

INSERT INTO email_send_history (recipient, status, sent_at)
SELECT
    'user' || (mod(n, 50) + 1) || '@example.com',
    CASE WHEN mod(n, 20) = 0 THEN 'failed' ELSE 'sent' END,
    (%(last_day)s::date::timestamp AT TIME ZONE 'UTC') - n * interval '1 day'
FROM generate_series(0, 400) AS n;

-- Runbook 004's wallet transactions: 20 merchants, 10-73 an hour each, from 13 days before the last
-- day (at most 14 days back: a dataset whose last day is long past does not get years of them) up
-- to the hour before now (so the hourly jobs have a last closed hour to look at); merchant 7 sells
-- ten times its usual in that newest hour (an anomaly for analytics_txn_anomalies).
WITH merchant_hours AS (
    SELECT
        h.hour,
        m.merchant_id,
        (10 + (hashint8extended(m.merchant_id, extract(EPOCH FROM h.hour)::bigint) & 63))::integer
        * CASE
            WHEN m.merchant_id = 7 AND h.hour = date_trunc('hour', now(), 'UTC') - interval '1 hour' THEN 10
            ELSE 1
        END AS n
    FROM
        generate_series(
            greatest(
                (%(last_day)s::date - 13)::timestamp AT TIME ZONE 'UTC',
                date_trunc('hour', now(), 'UTC') - interval '14 days'
            ),
            date_trunc('hour', now(), 'UTC') - interval '1 hour',
            interval '1 hour'
        ) AS h (hour)
    CROSS JOIN generate_series(1, 20) AS m (merchant_id)
)

INSERT INTO wallet_transactions (merchant_id, currency, amount, occurred_at, created_at)
SELECT
    mh.merchant_id,
    'EUR',
    (1 + (hashint8extended(mh.merchant_id * 100003 + i.i, extract(EPOCH FROM mh.hour)::bigint) & 8191))::numeric / 100,
    mh.hour + (i.i - 1) * (interval '3599 seconds' / mh.n),
    mh.hour + (i.i - 1) * (interval '3599 seconds' / mh.n)
FROM merchant_hours AS mh
CROSS JOIN LATERAL generate_series(1, mh.n) AS i (i);

-- What the consumer wrote: the hourly aggregates of those transactions, but for one hour of
-- merchant 3 it processed twice (runbook 004 "Incorrect Aggregate Values": duplicate event processing),
-- which analytics_txn_reconciliation finds.
INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local, updated_at)
SELECT
    date_trunc('hour', occurred_at, 'UTC') AS hour,
    merchant_id,
    currency,
    count(*) * CASE
        WHEN
            merchant_id = 3
            AND date_trunc('hour', occurred_at, 'UTC') = date_trunc('hour', now(), 'UTC') - interval '2 hours'
            THEN 2
        ELSE 1
    END,
    sum(amount),
    max(created_at)
FROM wallet_transactions
GROUP BY 1, 2, 3;

-- Runbook 004's product rules, as the evaluator reads them: a metric over its window, a comparator.
INSERT INTO analytics_alert_rules (name, metric, threshold, window_minutes, comparator, severity)
VALUES
('txn_volume_drop', 'tx_count', 100, 60, '<', 'P2'),
('txn_amount_spike', 'gross_volume_local', 100000, 60, '>', 'P1')
ON CONFLICT (name) DO UPDATE SET
    metric = excluded.metric,
    threshold = excluded.threshold,
    window_minutes = excluded.window_minutes,
    comparator = excluded.comparator,
    severity = excluded.severity;

INSERT INTO analytics_alerts (rule_id, status, created_at, resolved_at)
SELECT
    r.id,
    'resolved',
    (%(last_day)s::date::timestamp AT TIME ZONE 'UTC') - n * interval '1 day',
    (%(last_day)s::date::timestamp AT TIME ZONE 'UTC') - n * interval '1 day' + interval '2 hours'
FROM analytics_alert_rules AS r CROSS JOIN generate_series(1, 60) AS n;

-- Runbook 000's staging: events of four kinds waiting for analytics_ingest_merge, arrived over the
-- last two hours (page views the most), under the health check's backlog warning.
INSERT INTO analytics_events_stage (kind, payload, received_at)
SELECT
    (ARRAY['page_view', 'page_view', 'page_view', 'api_call', 'api_call', 'task_event', 'signup'])[1 + mod(n, 7)],
    jsonb_build_object('n', n),
    now() - interval '2 hours' + n * interval '1 second'
FROM generate_series(1, 7000) AS n
