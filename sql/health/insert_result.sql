INSERT INTO ops.health_check_results (
    dag_id, run_id, checked_at, check_name, status, value, numeric_value, threshold, detail
)
VALUES (
    %(dag_id)s,
    %(run_id)s,
    %(checked_at)s,
    %(check_name)s,
    %(status)s,
    %(value)s,
    %(numeric_value)s,
    %(threshold)s,
    %(detail)s
)
