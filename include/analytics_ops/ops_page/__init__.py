"""The Analytics Ops page: the suite at a glance in Airflow's UI (UI > Browse > Analytics Ops).

- `plugin`: the Airflow plugin, registered by the `airflow.plugins` entry point (pyproject.toml);
- `app`: the FastAPI app the plugin mounts at `/analytics-ops`, and
  the page (`ops_page.html`) it renders; runs in the API server, never in a task;
- `overview`: what the page shows, read-only from `ops.*` and a replica-lag measurement, each
  section on its own (one that is not set up says so, the rest still show);
- `alerts`: its "Alerts" section, what the continuous alert evaluator has firing or pending now;
- `exports`: its "Incident exports" section, exports stuck pending or failed.

SQL: `sql/ops_page/`.
"""
