"""Where the suite's files are: the SQL, the default config, the DAG files and the bootstrap script.

In this checkout they sit at the top, beside `include/` (the product's layout: `sql/`, `config/`,
`dags/`, `deploy/bootstrap.sh`). The wheel carries the same folders inside the package
(`analytics_ops/sql`, `analytics_ops/config`, `analytics_ops/dags`, `analytics_ops/deploy`:
pyproject's `package-dir`), so an installed suite needs nothing of a checkout. Each folder is
looked up inside the package first, then beside `include/`.
Stdlib only: read at DAG-parse time.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The checkout's root (include/analytics_ops/core/package_files.py -> the folder holding include/).
# In an installed wheel this is some folder of the environment: only the checkout's tools use it.
PROJECT_ROOT = PACKAGE_DIR.parents[1]

SHIPPED_FOLDERS = ("sql", "config", "dags", "deploy")


def shipped_folder(name: str) -> Path:
    """The folder `name` (one of SHIPPED_FOLDERS) of the installed package, or of the checkout."""
    if name not in SHIPPED_FOLDERS:
        raise ValueError(f"{name!r} is not shipped with the package: one of {', '.join(SHIPPED_FOLDERS)}")
    inside = PACKAGE_DIR / name
    if inside.is_dir():
        return inside
    beside = PROJECT_ROOT / name
    if beside.is_dir():
        return beside
    raise FileNotFoundError(
        f"analytics_ops: no {name}/ folder in the package ({inside}) nor in a checkout ({beside}); "
        "reinstall the wheel (pip install analytics-ops) or run from the project's checkout"
    )
