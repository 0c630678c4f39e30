"""The threshold table of analytics_health_check's runbook says what the config says."""

from __future__ import annotations

import ast
import re

from analytics_ops.core.config import PROJECT_ROOT, load_config
from analytics_ops.health.daily import DAILY_CHECKS, THRESHOLDS


def test_the_runbooks_threshold_table_matches_the_config_and_lists_every_check() -> None:
    path = PROJECT_ROOT / "dags" / "analytics_health_check.py"
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    rows = dict(re.findall(r"^\| `(check_\w+)` \| .*? \| ([^|]+?) \|$", doc, re.M))
    assert list(rows) == [check.task_id for check in DAILY_CHECKS]
    config = load_config()
    for task_id, cell in rows.items():
        assert cell == THRESHOLDS[task_id](config), f"{task_id}: the table says {cell!r}"
