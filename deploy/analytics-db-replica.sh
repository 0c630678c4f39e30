#!/usr/bin/env bash
# The analytics replica: on first start, a base backup of the primary through a physical replication
# slot (pg_basebackup -R writes standby.signal and primary_conninfo); then the stock entrypoint runs
# PostgreSQL as a hot standby. The password reaches pg_basebackup through PGPASSWORD, never argv.
set -euo pipefail
: "${ANALYTICS_REPLICATION_PASSWORD:?set ANALYTICS_REPLICATION_PASSWORD in .env}"
PRIMARY_HOST=${PRIMARY_HOST:-analytics-db}
SLOT=${REPLICATION_SLOT:-analytics_replica_1}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h "$PRIMARY_HOST" -p 5432 -q; do echo "waiting for $PRIMARY_HOST"; sleep 2; done
  PGPASSWORD=$ANALYTICS_REPLICATION_PASSWORD pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U replicator \
    -D "$PGDATA" -R -X stream -C -S "$SLOT" -c fast
  chmod 700 "$PGDATA"
fi
exec docker-entrypoint.sh postgres -c hot_standby=on -c hot_standby_feedback=on \
  -c shared_preload_libraries=pg_stat_statements
