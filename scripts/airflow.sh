#!/usr/bin/env bash
# Airflow itself, for `make up` / `make down`: `airflow standalone` (API server with the UI,
# scheduler, DAG processor, triggerer; LocalExecutor) on this checkout's DAGs and plugins, with the
# local stack's connections (scripts/with-env), run in the background in its own session.
#
#   scripts/airflow.sh start    start (idempotent), wait until the UI answers, print URL and login
#   scripts/airflow.sh stop     stop exactly the processes `start` started (its session), nothing else
#   scripts/airflow.sh status   one line
#
# Port: $AOPS_AIRFLOW_PORT (default 8080). A port held by another program is an error that says so;
# the suite never picks another port silently, because alerts link to the configured
# airflow.base_url. Files: $AIRFLOW_HOME (default .stack/airflow) holds the pid file
# (standalone.pid), the port (standalone.port) and the log (standalone.log).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/stack-folder.sh
. "$ROOT/scripts/stack-folder.sh"
START_TIMEOUT=${AOPS_AIRFLOW_START_TIMEOUT:-300}

log() { printf '[airflow] %s\n' "$*" >&2; }
die() { printf '[airflow] ERROR: %s\n' "$*" >&2; exit 1; }

# The environment of scripts/with-env, in this shell.
load_env() {
  local stack
  stack=$(readlink -f "$(stack_link)" 2>/dev/null || stack_link)
  [ -f "$stack/stack.env" ] || die "the local stack is not set up: run 'make up' (or 'make setup') first"
  export AIRFLOW_HOME="${AIRFLOW_HOME:-$stack/airflow}"
  PIDFILE=$AIRFLOW_HOME/standalone.pid
  PORTFILE=$AIRFLOW_HOME/standalone.port
  LOGFILE=$AIRFLOW_HOME/standalone.log
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The recorded pid, if it is still our `airflow standalone` (a pid can be reused after a reboot).
our_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q 'airflow standalone' || return 1
  echo "$pid"
}

# Every process of the session `start` created (setsid: session id = the leader's pid).
session_pids() { ps -e -o pid=,sid= | awk -v sid="$1" '$2 == sid { print $1 }'; }

print_login() {
  local port=$1 pwfile=$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
  echo "Airflow UI:     http://localhost:$port/  (Analytics Ops page: http://localhost:$port/plugin/analytics-ops)"
  if [ -f "$pwfile" ]; then
    "$ROOT/.venv/bin/python" - "$pwfile" <<'EOF'
import json, sys
for user, password in json.load(open(sys.argv[1])).items():
    print(f"login:          {user} / {password}   (generated, in {sys.argv[1]})")
EOF
  else
    echo "login:          see $LOGFILE"
  fi
  echo "logs:           $LOGFILE; stop with: make down"
}

cmd_start() {
  load_env
  local port=${AOPS_AIRFLOW_PORT:-8080} pid
  if pid=$(our_pid); then
    log "already running (pid $pid)"
    print_login "$(cat "$PORTFILE" 2>/dev/null || echo "$port")"
    return
  fi
  port_busy "$port" && die "port $port is taken by another program: free it, or start on another port with 'make up AOPS_AIRFLOW_PORT=8081' (alerts link to airflow.base_url in config/analytics_ops.yaml: change it to match)"
  mkdir -p "$AIRFLOW_HOME"
  echo "$port" > "$PORTFILE"
  log "starting airflow standalone on 127.0.0.1:$port (log: $LOGFILE)"
  AIRFLOW__API__HOST=127.0.0.1 \
  AIRFLOW__API__PORT=$port \
  AIRFLOW__API__BASE_URL="http://localhost:$port" \
  AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$port/execution/" \
  AIRFLOW__CORE__EXECUTOR=LocalExecutor \
  AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-True}" \
  AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}" \
    setsid "$ROOT/scripts/with-env" airflow standalone > "$LOGFILE" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  # The background job is not a process group leader, so setsid does not fork: $! is the new
  # session's leader, and with-env execs airflow in it. Wait for that exec before checking on it.
  for _ in $(seq 50); do our_pid >/dev/null && break; sleep 0.2; done
  local deadline=$((SECONDS + START_TIMEOUT))
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/api/v2/monitor/health" 2>/dev/null; do
    if ! our_pid >/dev/null; then
      tail -n 40 "$LOGFILE" >&2; die "airflow standalone exited; the end of its log is above"
    fi
    [ $SECONDS -lt $deadline ] || { tail -n 40 "$LOGFILE" >&2; cmd_stop; die "the UI did not answer within ${START_TIMEOUT}s"; }
    sleep 2
  done
  log "up (pid $(cat "$PIDFILE")); the suite's DAGs are paused when first seen: unpause them in the UI"
  print_login "$port"
}

cmd_stop() {
  load_env
  local pid
  if ! pid=$(our_pid); then
    rm -f "$PIDFILE"; log "not running"; return
  fi
  log "stopping airflow standalone (session $pid)"
  local pids; pids=$(session_pids "$pid")
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 60); do
    [ -z "$(session_pids "$pid")" ] && break
    sleep 0.5
  done
  pids=$(session_pids "$pid")
  if [ -n "$pids" ]; then
    log "killing what did not stop in 30 s: $(echo $pids)"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  log "stopped"
}

cmd_status() {
  load_env
  local pid
  if pid=$(our_pid); then echo "airflow: running (pid $pid, port $(cat "$PORTFILE" 2>/dev/null))"; else echo "airflow: stopped"; fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
