-- The role model, cluster part: run once per server by a superuser (deploy/bootstrap.sh runs it
-- with psql). Idempotent: re-running it updates passwords and memberships and changes nothing else.
-- psql variables: ops_role, replication_role, maintained_owners; passwords come from the environment (\getenv), so they
-- never appear on a command line. What each privilege is for: docs/roles.md.
\getenv ops_password ANALYTICS_OPS_PASSWORD
\getenv replication_password ANALYTICS_REPLICATION_PASSWORD

SELECT format('CREATE ROLE %I', :'ops_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'ops_role') \gexec

-- Never a superuser. REPLICATION: the backup DAGs' WAL slot, pg_basebackup and pg_receivewal.
-- CREATEDB: the scratch database a full backup is verified in, and the restore DAG's databases.
SELECT format(
    'ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS REPLICATION CREATEDB PASSWORD %L',
    :'ops_role', :'ops_password'
) \gexec

-- pg_monitor: every session and statement in pg_stat_activity / pg_stat_statements, replication
-- and WAL views, pgstattuple's functions (pg_stat_scan_tables). pg_signal_backend: the stuck-work
-- DAG terminates sessions left idle in a transaction (never a superuser's: Postgres forbids it).
-- pg_read_all_data: the full backup dumps every table and sequence, whoever owns it.
SELECT format('GRANT pg_monitor, pg_signal_backend, pg_read_all_data TO %I', :'ops_role') \gexec

-- PostgreSQL 17 and later: MAINTAIN on every table (VACUUM, ANALYZE, REINDEX, REFRESH MATERIALIZED
-- VIEW) of tables other roles own. Before 17 only ownership allows that: see docs/roles.md.
SELECT format('GRANT pg_maintain TO %I', :'ops_role')
WHERE current_setting('server_version_num')::int >= 170000 \gexec

-- PostgreSQL 17 and later: WAL summaries, which pg_basebackup --incremental needs (the backup DAG's
-- 6-hourly incremental base backups). A server setting, not a grant: changed only where it is off,
-- and reloaded (no restart needed).
SELECT 'ALTER SYSTEM SET summarize_wal = on'
WHERE current_setting('server_version_num')::int >= 170000
    AND current_setting('summarize_wal', true) = 'off' \gexec
SELECT 'SELECT pg_reload_conf()'
WHERE current_setting('server_version_num')::int >= 170000 \gexec

-- Before 17: membership in the roles that own the tables it must maintain (psql variable
-- maintained_owners, comma-separated; empty when the suite's role owns them, as on the local stack).
SELECT format('GRANT %I TO %I', owner_role, :'ops_role')
FROM unnest(string_to_array(nullif(:'maintained_owners', ''), ',')) AS owner_role
WHERE current_setting('server_version_num')::int < 170000 \gexec

-- The role a streaming replica connects as: replication only, no database access.
SELECT format('CREATE ROLE %I', :'replication_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'replication_role') \gexec

SELECT format(
    'ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION PASSWORD %L',
    :'replication_role', :'replication_password'
) \gexec
