-- Each DAG whose newest recorded runs failed: when the unbroken streak of failures began (the first
-- failure after its last success) and how many runs it holds.
WITH last_success AS (
    SELECT
        dag_id,
        max(recorded_at) AS succeeded_at
    FROM ops.dag_run_outcomes
    WHERE outcome = 'success'
    GROUP BY dag_id
)

SELECT
    f.dag_id,
    min(f.recorded_at) AS failing_since,
    count(*) AS failed_runs,
    extract(EPOCH FROM (%(now)s::timestamptz - min(f.recorded_at)))::float8 AS seconds
FROM ops.dag_run_outcomes AS f
LEFT JOIN last_success AS s ON f.dag_id = s.dag_id
WHERE
    f.outcome = 'failed'
    AND f.recorded_at > coalesce(s.succeeded_at, '-infinity')
GROUP BY f.dag_id
ORDER BY f.dag_id
