-- Runs of the DAG that failed since its last successful run (the current one included).
SELECT count(*)
FROM ops.dag_run_outcomes AS f
WHERE
    f.dag_id = %(dag_id)s
    AND f.outcome = 'failed'
    AND f.recorded_at > coalesce(
        (
            SELECT max(s.recorded_at) FROM ops.dag_run_outcomes AS s
            WHERE s.dag_id = %(dag_id)s AND s.outcome = 'success'
        ),
        '-infinity'
    )
