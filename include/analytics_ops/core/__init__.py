"""The core every domain builds on, and the only package a domain may always import.

- `config`: the typed config file (every key documented in its model);
- `db`: the one way to open a PostgreSQL session (sync and async), and the SQL files;
- `redis`: the one way to reach the Redis cache;
- `tasks`: the one way to write a task body (session named after the task, run log, summary);
- `run_log`: `ops.run_log`, what each task did;
- `params`: run params parsed and refused before anything is touched;
- `errors`, `redaction`: failures worth a meaning, and secrets kept out of messages;
- `dag_defaults`: what every DAG gets (owner, retries, alerting callbacks, deadline);
- `assets`: the datasets the suite produces; `migrations`: the schema in sql/migrations.
"""
