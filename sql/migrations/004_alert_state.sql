-- Outcome of each suite DAG run, written by the alerting callbacks, so "this DAG has failed N runs
-- in a row" is known without reading Airflow's metadata database from task code.
CREATE TABLE IF NOT EXISTS ops.dag_run_outcomes (
    dag_id text NOT NULL,
    run_id text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('success', 'failed')),
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (dag_id, run_id)
);
CREATE INDEX IF NOT EXISTS dag_run_outcomes_dag_recorded_idx ON ops.dag_run_outcomes (dag_id, recorded_at DESC);
