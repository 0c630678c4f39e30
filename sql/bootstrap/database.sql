-- The role model, database part: run by a superuser in each database the suite operates (and in
-- the local stack's test database). psql variables: ops_role, dbname. Idempotent.

-- The suite creates its own schema (ops) and, on a development stack, the demo's tables.
SELECT format('ALTER DATABASE %I OWNER TO %I', :'dbname', :'ops_role') \gexec

-- Function privileges live in each database's catalogue. The 6-hourly WAL fetch closes the current
-- WAL segment before copying it.
SELECT format('GRANT EXECUTE ON FUNCTION pg_catalog.pg_switch_wal() TO %I', :'ops_role') \gexec

-- Extensions whose control files are not `trusted`: only a superuser may create them.
-- pg_stat_statements: slow statements (weekly review) and the monthly history before each reset.
-- pgstattuple: index bloat (weekly maintenance, weekly review).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS pgstattuple;

-- The monthly archival keeps pg_stat_statements' top statements, then resets them. Every overload
-- (PostgreSQL 17 added a fourth argument).
SELECT format('GRANT EXECUTE ON FUNCTION %s TO %I', p.oid::regprocedure, :'ops_role')
FROM pg_proc AS p
WHERE p.proname = 'pg_stat_statements_reset' \gexec
