-- Runbook 003's usage events for the incident export: 3 organisations x 3 models, one event every
-- 30 seconds each over the 3 days up to now; about 4 in 100 errors, 1 in 100 timeouts and 1 in 100 throttled;
-- org-demo-2's model gpt-small errs on every other event in the last hour (a spike to export).
WITH slots AS (
    SELECT
        o.org,
        m.model,
        t.at,
        hashint8extended(extract(EPOCH FROM t.at)::bigint, hashtext(o.org || m.model)) AS bits
    FROM (VALUES ('org-demo-1'), ('org-demo-2'), ('org-demo-3')) AS o (org)
    CROSS JOIN (VALUES ('gpt-small'), ('gpt-large'), ('embed-v2')) AS m (model)
    CROSS JOIN
        generate_series(
            date_trunc('minute', now()) - interval '3 days',
            date_trunc('minute', now()) - interval '30 seconds',
            interval '30 seconds'
        ) AS t (at)
),

graded AS (
    SELECT
        org,
        model,
        at,
        bits,
        CASE
            WHEN org = 'org-demo-2' AND model = 'gpt-small' AND at > now() - interval '1 hour' AND bits & 1 = 0
                THEN 'error'
            WHEN (bits >> 40 & 127) < 5 THEN 'error'
            WHEN (bits >> 40 & 127) < 6 THEN 'timeout'
            WHEN (bits >> 40 & 127) < 7 THEN 'throttled'
            ELSE 'success'
        END AS status
    FROM slots
)

INSERT INTO usage_events (
    event_id, org_id, occurred_at, received_at, model_id, actor_id, input_tokens, output_tokens, latency_ms,
    status, error_code, cost_estimate_cents, metadata
)
SELECT
    md5(org || model || extract(EPOCH FROM at)::text)::uuid,
    org,
    at,
    at + (bits & 255) * interval '1 millisecond',
    model,
    CASE WHEN bits & 3 = 0 THEN NULL ELSE 'user-' || (bits >> 4 & 31) END,
    (bits >> 8 & 1023)::integer,
    (bits >> 18 & 511)::integer,
    (80 + (bits >> 27 & 1023))::integer,
    status,
    CASE status WHEN 'error' THEN 'upstream_5xx' WHEN 'timeout' THEN 'deadline_exceeded' END,
    round((bits >> 8 & 1023) * 0.0015 + (bits >> 18 & 511) * 0.002, 4),
    jsonb_build_object('region', CASE WHEN bits & 64 = 0 THEN 'eu-west-1' ELSE 'us-east-1' END)
FROM graded;
