-- The newest result of every health check.
SELECT DISTINCT ON (h.check_name)
    h.check_name,
    h.status,
    h.value,
    h.threshold,
    h.detail,
    h.checked_at,
    h.dag_id,
    h.run_id
FROM ops.health_check_results AS h
ORDER BY h.check_name ASC, h.checked_at DESC, h.id DESC
