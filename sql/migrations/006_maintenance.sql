-- Database maintenance (runbooks 001 and 002): index bloat is measured with pgstattuple's
-- pgstatindex(); the monthly review keeps pg_stat_statements' top statements before each reset.
CREATE EXTENSION IF NOT EXISTS pgstattuple;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

CREATE TABLE IF NOT EXISTS ops.pg_stat_statements_history (
    captured_at timestamptz NOT NULL,
    queryid bigint,
    dbname text,
    username text,
    query text NOT NULL,
    calls bigint NOT NULL,
    total_exec_time double precision NOT NULL,
    mean_exec_time double precision NOT NULL,
    rows bigint NOT NULL,
    shared_blks_hit bigint NOT NULL,
    shared_blks_read bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS pg_stat_statements_history_captured_idx
ON ops.pg_stat_statements_history (captured_at);
