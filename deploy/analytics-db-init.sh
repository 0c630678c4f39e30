#!/usr/bin/env bash
# Runs once, when the analytics primary's data volume is first initialised (docker-entrypoint-initdb.d):
# the role the suite connects as (with what the backup DAGs need), the role the streaming replica replicates with, and pg_stat_statements.
set -euo pipefail
: "${ANALYTICS_OPS_PASSWORD:?set ANALYTICS_OPS_PASSWORD in .env}"
: "${ANALYTICS_REPLICATION_PASSWORD:?set ANALYTICS_REPLICATION_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v ops_password="$ANALYTICS_OPS_PASSWORD" -v replication_password="$ANALYTICS_REPLICATION_PASSWORD" <<'SQL'
-- REPLICATION: the backup DAGs' slot, pg_basebackup and pg_receivewal; CREATEDB: the scratch
-- database a full backup is verified in (docs/backups.md).
CREATE ROLE analytics_ops LOGIN REPLICATION CREATEDB PASSWORD :'ops_password'
    IN ROLE pg_signal_backend, pg_read_all_stats, pg_monitor;
GRANT EXECUTE ON FUNCTION pg_switch_wal() TO analytics_ops;
GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) TO analytics_ops;
GRANT ALL ON DATABASE analytics TO analytics_ops;
ALTER DATABASE analytics OWNER TO analytics_ops;
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'replication_password';
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
ALTER EXTENSION pg_stat_statements OWNER TO analytics_ops;
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
echo "host replication analytics_ops all scram-sha-256" >> "$PGDATA/pg_hba.conf"
