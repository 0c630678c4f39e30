"""Replication: how far the streaming replicas are behind, and the gate write-heavy work waits at.

- `lag`: the measurement (the primary's view and each replica's), the verdict against
  `replication:` limits, and `ReplicaLagTrigger`, the wait the triggerer holds;
- `sensors`: `ReplicaLagSensor`, the `wait_for_replicas` task of the DAGs that write.

SQL: `sql/replication/`. The health checks grade the same measurement (`health`).
"""
