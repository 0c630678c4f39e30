#!/usr/bin/env bash
# Runs once, when the analytics primary's data volume is first initialised (docker-entrypoint-initdb.d):
# the role the suite connects as, the role the streaming replica replicates with, and pg_stat_statements.
set -euo pipefail
: "${ANALYTICS_OPS_PASSWORD:?set ANALYTICS_OPS_PASSWORD in .env}"
: "${ANALYTICS_REPLICATION_PASSWORD:?set ANALYTICS_REPLICATION_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v ops_password="$ANALYTICS_OPS_PASSWORD" -v replication_password="$ANALYTICS_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE analytics_ops LOGIN PASSWORD :'ops_password' IN ROLE pg_signal_backend, pg_read_all_stats, pg_monitor;
GRANT ALL ON DATABASE analytics TO analytics_ops;
ALTER DATABASE analytics OWNER TO analytics_ops;
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'replication_password';
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
ALTER EXTENSION pg_stat_statements OWNER TO analytics_ops;
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
