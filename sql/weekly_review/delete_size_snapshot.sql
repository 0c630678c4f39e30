-- This run's earlier snapshot (a retried task takes it again).
DELETE FROM ops.table_size_history
WHERE run_id = %(run_id)s
