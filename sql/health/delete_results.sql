-- A check's earlier results in this run (a retried or cleared task replaces them).
DELETE FROM ops.health_check_results
WHERE
    dag_id = %(dag_id)s
    AND run_id = %(run_id)s
    AND (check_name = %(check_prefix)s OR check_name LIKE %(check_prefix)s || ':%%')
