-- Record how a run ended; a run cleared and re-run keeps one row with its newest outcome.
INSERT INTO ops.dag_run_outcomes (dag_id, run_id, outcome, recorded_at)
VALUES (%(dag_id)s, %(run_id)s, %(outcome)s, clock_timestamp())
ON CONFLICT (dag_id, run_id) DO UPDATE
    SET outcome = excluded.outcome, recorded_at = excluded.recorded_at
