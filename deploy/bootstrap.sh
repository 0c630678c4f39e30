#!/usr/bin/env bash
# The one superuser bootstrap of the suite's role model, shared by the local stack
# (scripts/stack.sh) and the compose deployment (deploy/analytics-db-init.sh): roles, extensions,
# grants and pg_hba lines. Idempotent. What each privilege is for: docs/roles.md.
#
# Run as the database superuser, with libpq's environment naming the server (PGHOST, PGPORT,
# PGUSER; in the postgres image's init, its socket and $POSTGRES_USER). Reads:
#   ANALYTICS_DB                   database(s) the suite operates, comma-separated (default analytics)
#   ANALYTICS_OPS_ROLE             the suite's limited role (default analytics_ops)
#   ANALYTICS_OPS_PASSWORD         its password (required)
#   ANALYTICS_REPLICATION_ROLE     the role streaming replicas connect as (default replicator)
#   ANALYTICS_REPLICATION_PASSWORD its password (required)
#   ANALYTICS_MAINTAINED_OWNERS    PostgreSQL < 17: roles owning tables the suite VACUUMs/REINDEXes
#                                  but does not own, comma-separated (default none)
#   ANALYTICS_HBA_ADDRESS          where the suite and the replicas connect from (default all)
#   PGDATA                         when set: the pg_hba.conf lines are added there (once) and the
#                                  server reloads them
#   AOPS_BOOTSTRAP_SQL_DIR         the SQL (default: sql/bootstrap beside this folder)
# Passwords reach psql through the environment only, never its command line.
set -euo pipefail

SQL_DIR=${AOPS_BOOTSTRAP_SQL_DIR:-$(cd "$(dirname "$0")/../sql/bootstrap" && pwd)}
: "${ANALYTICS_OPS_PASSWORD:?set ANALYTICS_OPS_PASSWORD}"
: "${ANALYTICS_REPLICATION_PASSWORD:?set ANALYTICS_REPLICATION_PASSWORD}"
export ANALYTICS_OPS_PASSWORD ANALYTICS_REPLICATION_PASSWORD
OPS_ROLE=${ANALYTICS_OPS_ROLE:-analytics_ops}
REPLICATION_ROLE=${ANALYTICS_REPLICATION_ROLE:-replicator}
HBA_ADDRESS=${ANALYTICS_HBA_ADDRESS:-all}
# Re-runs are normal: no NOTICE per membership or extension that is already there.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

run_psql() {
  psql -X -q -v ON_ERROR_STOP=1 -v ops_role="$OPS_ROLE" -v replication_role="$REPLICATION_ROLE" \
    -v maintained_owners="${ANALYTICS_MAINTAINED_OWNERS:-}" "$@"
}

run_psql -d "${PGDATABASE:-postgres}" -f "$SQL_DIR/cluster.sql"

IFS=',' read -r -a databases <<< "${ANALYTICS_DB:-analytics}"
for db in "${databases[@]}"; do
  # CREATE DATABASE takes no bound value and cannot run in a DO block: the name is quoted by
  # format(%I) and run by \gexec (psql interpolates variables on its input, not in -c).
  psql -X -q -v ON_ERROR_STOP=1 -d "${PGDATABASE:-postgres}" -v name="$db" <<'SQL'
SELECT format('CREATE DATABASE %I', :'name')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
SQL
  run_psql -d "$db" -v dbname="$db" -f "$SQL_DIR/database.sql"
done

if [ -n "${PGDATA:-}" ]; then
  hba=$PGDATA/pg_hba.conf
  added=0
  for line in "host all $OPS_ROLE $HBA_ADDRESS scram-sha-256" \
              "host replication $OPS_ROLE $HBA_ADDRESS scram-sha-256" \
              "host replication $REPLICATION_ROLE $HBA_ADDRESS scram-sha-256"; do
    grep -qxF "$line" "$hba" || { echo "$line" >> "$hba"; added=1; }
  done
  if [ $added -eq 1 ]; then
    psql -X -q -d "${PGDATABASE:-postgres}" -c "SELECT pg_reload_conf()" >/dev/null </dev/null
  fi
fi
echo "bootstrap: role $OPS_ROLE (limited), role $REPLICATION_ROLE (replication), database(s) ${ANALYTICS_DB:-analytics}"
