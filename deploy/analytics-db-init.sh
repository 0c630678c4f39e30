#!/usr/bin/env bash
# Runs once, when the analytics primary's data volume is first initialised (docker-entrypoint-initdb.d):
# the suite's shared superuser bootstrap (deploy/bootstrap.sh, the same one the local stack runs),
# against the image's temporary server on its socket, as $POSTGRES_USER. Not `exec`: the image
# sources init scripts that are not executable, and exec would replace its entrypoint.
set -euo pipefail
PGUSER="$POSTGRES_USER" PGDATABASE=postgres ANALYTICS_DB="${ANALYTICS_DB:-$POSTGRES_DB}" \
  AOPS_BOOTSTRAP_SQL_DIR=/opt/analytics-ops/sql/bootstrap \
  bash /opt/analytics-ops/deploy/bootstrap.sh
