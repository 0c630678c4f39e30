"""`make bench`: every benchmark, each printing its ratio against a raw baseline measured in the same run.

Run one group with `scripts/with-env python bench/run.py aggregation`. Exit status 1 if a target
was missed (the numbers are still printed); record results in docs/benchmarks.md. The benchmark
databases (aops_bench_*) are dropped at the end, gigabytes of data and WAL; `--keep-data` keeps them
for the next run (the big ones are then reused instead of generated again).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    bench_aggregation,
    bench_alerts,
    bench_archival,
    bench_backup,
    bench_cache,
    bench_incident_export,
    bench_ingest_merge,
    bench_mv,
    bench_pgbackrest,
    bench_txn_anomalies,
    bench_txn_backfill,
    bench_under_load,
    bench_usage_rollup,
)

GROUPS = {
    "aggregation": bench_aggregation.run,
    "cache": bench_cache.run,
    "archival": bench_archival.run,
    "materialized_views": bench_mv.run,
    "backup": bench_backup.run,
    "under_load": bench_under_load.run,
    "pgbackrest": bench_pgbackrest.run,
    "alerts": bench_alerts.run,
    "txn_backfill": bench_txn_backfill.run,
    "txn_anomalies": bench_txn_anomalies.run,
    "incident_export": bench_incident_export.run,
    "ingest_merge": bench_ingest_merge.run,
    "usage_rollup": bench_usage_rollup.run,
}


def _freeze_config() -> None:
    """Read a copy of the config taken now: a long benchmark must not see the file edited under it."""
    import os
    import tempfile

    from analytics_ops.core.config import config_path

    frozen = Path(tempfile.mkdtemp(prefix="aops-bench-config-")) / "analytics_ops.yaml"
    frozen.write_text(config_path().read_text())
    os.environ["ANALYTICS_OPS_CONFIG"] = str(frozen)


def main(argv: list[str]) -> int:
    from bench.common import drop_bench_databases

    _freeze_config()
    keep = "--keep-data" in argv
    names = [a for a in argv if a != "--keep-data"] or list(GROUPS)
    results = []
    for name in names:
        print(f"== {name}", flush=True)
        results.extend(GROUPS[name]())
    if not keep:
        print(f"dropped {', '.join(drop_bench_databases()) or 'no benchmark database'} (--keep-data keeps them)")
    missed = [r["name"] for r in results if not r["passed"]]
    print(f"\n{len(results) - len(missed)} of {len(results)} targets met" + (f"; missed: {missed}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
