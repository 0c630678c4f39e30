# The suite's Airflow image: the official Airflow 3.3.2 image (Python 3.11) plus the suite's pinned
# packages. docker-compose.yaml builds it once for every Airflow service.
FROM apache/airflow:3.3.2-python3.11

# PostgreSQL 15's programs for the backup DAGs: pg_dump, pg_restore, pg_basebackup, pg_receivewal,
# pg_verifybackup, and pg_ctl/postgres for the recovery drill (run as the airflow user, not root).
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*
USER airflow

# The runtime pins only (Airflow, its providers, the Celery provider among them, the suite's
# libraries), resolved against the same constraints.txt as `make venv`. The development tools in
# requirements-dev.txt (pytest, linters, playwright, the compose validator) stay out of the image.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/requirements/
RUN pip install --no-cache-dir -r /opt/airflow/requirements/requirements.txt \
      -c /opt/airflow/requirements/constraints.txt

# The suite itself. docker-compose.yaml mounts these same folders over the copies (edit, and the
# next parse picks it up); the copies make the image usable on its own too.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 sql/ /opt/airflow/sql/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 config/ /opt/airflow/config/
# analytics_ops is imported from include/; it finds sql/ and config/ beside include/ (/opt/airflow).
ENV PYTHONPATH=/opt/airflow/include \
    ANALYTICS_OPS_CONFIG=/opt/airflow/config/analytics_ops.yaml
