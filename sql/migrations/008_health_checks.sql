-- Health checks (issue 7): every check of every analytics_health_check / analytics_weekly_review
-- run, one row per measured item, so trends over weeks are queryable; and weekly size snapshots,
-- so the weekly review can say how much each table and index grew since last week.

CREATE TABLE IF NOT EXISTS ops.health_check_results (
    id bigserial PRIMARY KEY,
    dag_id text NOT NULL,
    run_id text NOT NULL,
    checked_at timestamptz NOT NULL,
    check_name text NOT NULL,
    status text NOT NULL CHECK (status IN ('ok', 'warn', 'critical')),
    value text,
    numeric_value double precision,
    threshold text,
    detail text
);
CREATE INDEX IF NOT EXISTS health_check_results_run_idx ON ops.health_check_results (dag_id, run_id);
CREATE INDEX IF NOT EXISTS health_check_results_check_time_idx
ON ops.health_check_results (check_name, checked_at DESC);

CREATE TABLE IF NOT EXISTS ops.table_size_history (
    captured_at timestamptz NOT NULL,
    run_id text NOT NULL,
    schemaname text NOT NULL,
    relname text NOT NULL,
    relkind text NOT NULL CHECK (relkind IN ('table', 'index')),
    table_name text NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (captured_at, schemaname, relname)
);
CREATE INDEX IF NOT EXISTS table_size_history_rel_idx ON ops.table_size_history (schemaname, relname, captured_at DESC);
