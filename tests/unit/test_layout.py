"""The library's layout holds: small modules, and each domain imports the core and what it really uses."""

from __future__ import annotations

import re
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "include" / "analytics_ops"

# What each package may import besides itself (a package not listed: the core only). A new dependency
# between domains is a decision: add it here, with the reason, or move what is shared into `core`.
MAY_IMPORT = {
    "core": {"alerting"},  # dag_defaults names the alerting callbacks every DAG gets
    "alerting": {"core", "health"},  # the evaluator's rules run the checks of the one check framework
    "replication": {"core"},
    "aggregation": {"core"},
    "cache": {"core"},
    "mv": {"core", "replication"},  # the refresh DAGs' wait_for_replicas
    "maintenance": {"core"},
    "archival": {"core", "maintenance"},  # VACUUM after the move, the size report
    "retention": {"core", "maintenance"},  # VACUUM after the deletes
    "stuck_work": {"core"},
    "transactions": {"core"},
    "backups": {"core"},
    "exports": {"core", "alerting", "backups"},  # the link posted to Slack; the backups' object storage
    "health": {"core", "maintenance", "replication"},  # table health, index bloat, replica lag
    "ops_page": {"core", "replication"},  # replica lag measured now
    "demo": {"core", "aggregation"},  # the demo days are aggregated
    "cli": {"core", "demo", "dag_folder", "alerting"},  # install-dags; check-config checks the alert rules
}


def _modules() -> list[Path]:
    return sorted(LIBRARY.rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(LIBRARY)): n for p in _modules() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these by what they own: {long}"


def test_each_package_says_what_it_owns() -> None:
    for init in LIBRARY.glob("*/__init__.py"):
        text = init.read_text()
        assert text.startswith('"""') and len(text) > 120, f"{init.parent.name}/__init__.py: say what it owns"


def test_domains_import_only_the_core_and_what_they_use() -> None:
    for path in _modules():
        parts = path.relative_to(LIBRARY).parts
        package = parts[0] if len(parts) > 1 else path.stem
        if package == "__init__.py" or package == "__init__":
            continue
        used = set(re.findall(r"(?:from|import) analytics_ops\.(\w+)", path.read_text())) - {package}
        allowed = MAY_IMPORT.get(package, {"core"})
        assert used <= allowed, f"{path.relative_to(LIBRARY)} imports {sorted(used - allowed)}"


def test_alerting_imports_go_one_way() -> None:
    order = ["messages", "outcomes", "slack", "callbacks"]
    for i, name in enumerate(order):
        text = (LIBRARY / "alerting" / f"{name}.py").read_text()
        later = set(re.findall(r"analytics_ops\.alerting\.(\w+)", text)) & set(order[i + 1 :])
        assert not later, (
            f"alerting.{name} imports {sorted(later)}: imports go callbacks -> slack -> outcomes -> messages"
        )
