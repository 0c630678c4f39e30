"""The one shape of a check DAG, built for `analytics_health_check` and `analytics_weekly_review`.

`check_tasks(checks, ...)` wires, inside the current DAG: one task per check (`run_check`: measure,
grade, store, fail when critical), `send_digest` (trigger rule all_done: it reports whatever the
checks did, one Slack message; `with_alerts`: also the continuous alerts of the last 24 h) and a
last task that does nothing itself and is skipped as upstream-failed when a check failed, so the run
is marked failed while the digest still succeeds.
"""

from __future__ import annotations

from collections.abc import Sequence

from analytics_ops.health.framework import Check


def check_tasks(
    checks: Sequence[Check], *, digest_title: str, done_task_id: str, done_message: str, with_alerts: bool = False
) -> None:
    from airflow.sdk import task

    def check_task(check: Check):
        @task(task_id=check.task_id)
        def run() -> list[dict]:
            from analytics_ops.health.framework import run_check

            return run_check(check)

        return run()

    @task(trigger_rule="all_done")
    def send_digest() -> dict:
        from analytics_ops.health.digest import send_digest as send

        return send(digest_title, [check.task_id for check in checks], with_alerts=with_alerts)

    @task(task_id=done_task_id)
    def done() -> None:
        print(done_message)

    measured = [check_task(check) for check in checks]
    measured >> send_digest()
    measured >> done()
