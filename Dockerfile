# The suite's Airflow image: the official Airflow 3.3.2 image (Python 3.11) plus the suite's pinned
# packages and the suite's wheel. docker-compose.yaml builds it once for every Airflow service.
FROM apache/airflow:3.3.2-python3.11 AS suite-wheel

# The wheel, built with the standard tooling from the same files as `pip wheel --no-deps .` in a
# checkout (pyproject.toml maps dags/, sql/, config/ and deploy/bootstrap.sh into the package).
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/src/
COPY --chown=airflow:0 include/ /opt/airflow/src/include/
COPY --chown=airflow:0 dags/ /opt/airflow/src/dags/
COPY --chown=airflow:0 sql/ /opt/airflow/src/sql/
COPY --chown=airflow:0 config/ /opt/airflow/src/config/
COPY --chown=airflow:0 deploy/ /opt/airflow/src/deploy/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /opt/airflow/dist /opt/airflow/src

FROM apache/airflow:3.3.2-python3.11

# The analytics server's release: docker-compose.yaml passes ANALYTICS_PG_VERSION (.env), the tag of
# its postgres image, so the programs here are of the server's major (its first number): pg_dump,
# pg_restore, pg_basebackup, pg_receivewal, pg_verifybackup, and pg_ctl/postgres for the recovery
# drill (run as the airflow user, not root). pg_dump refuses a newer server, and only a server of the
# same major can start a base backup.
ARG ANALYTICS_PG_VERSION=15.10
USER root
# From PostgreSQL's apt repository (Debian 12 packages 15 only), as the official postgres image
# installs them: the repository's main component (postgresql-common, libpq) and the major's own. The
# signing key over HTTPS from postgresql.org, where PostgreSQL's apt instructions fetch it.
RUN set -eux; \
    major="${ANALYTICS_PG_VERSION%%.*}"; \
    codename="$(. /etc/os-release && echo "$VERSION_CODENAME")"; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
      https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc]" \
      "https://apt.postgresql.org/pub/repos/apt ${codename}-pgdg main ${major}" > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends "postgresql-${major}" "postgresql-client-${major}"; \
    rm -rf /var/lib/apt/lists/*
USER airflow

# The runtime pins only (Airflow, its providers, the Celery provider among them, the suite's
# libraries), resolved against the same constraints.txt as `make venv`. The development tools in
# requirements-dev.txt (pytest, linters, playwright, the compose validator) stay out of the image.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/requirements/
RUN pip install --no-cache-dir -r /opt/airflow/requirements/requirements.txt \
      -c /opt/airflow/requirements/constraints.txt

# The suite, installed the way a team adds it to its own Airflow (README: "Add the suite to an
# existing Airflow"): the wheel, against the same constraints. It brings the `analytics-ops` command
# and registers the Analytics Ops page through Airflow's plugin entry point (no plugins folder).
COPY --from=suite-wheel --chown=airflow:0 /opt/airflow/dist/ /opt/airflow/dist/
RUN pip install --no-cache-dir /opt/airflow/dist/analytics_ops-*.whl -c /opt/airflow/requirements/constraints.txt

# docker-compose.yaml mounts these folders of the checkout over the copies (edit, and the next parse
# picks it up; PYTHONPATH puts the mounted include/ before the installed package); the copies make
# the image usable on its own too.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 sql/ /opt/airflow/sql/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 config/ /opt/airflow/config/
# With PYTHONPATH, analytics_ops is imported from include/ and finds sql/ and config/ beside it
# (/opt/airflow); without it, from the installed wheel, with the copies inside the package.
ENV PYTHONPATH=/opt/airflow/include \
    ANALYTICS_OPS_CONFIG=/opt/airflow/config/analytics_ops.yaml
