"""Retention: the `retention.policies` of the config, applied in keyset batches, then VACUUM
(runbooks 002 and 004).

- `policies`: one policy's delete (or move into its archive table) in short batches;
- `tasks`: the task bodies of `analytics_retention_cleanup`.
"""
