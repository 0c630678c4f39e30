"""The suite's DAGs in any Airflow DAG folder, from the installed package.

A team that runs its own Airflow installs the wheel and drops one small file into its DAG folder
(`analytics-ops install-dags` writes it; `loader_file` is its text). That file calls `load_suite_dags`,
which runs the package's own DAG files (`analytics_ops/dags/<dag_id>.py`, the `dags/` of this checkout)
inside the Airflow import of that one file: the DAGs are the same objects as from `dags/` (dag_id,
doc_md, tasks), registered to the loader file (their `fileloc`), and parsing stays as light as
`dags/` (the DAG files themselves open no connection and import no client at parse time).

Stdlib only at import: this module is imported at every parse.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
from collections.abc import Iterable
from pathlib import Path

from analytics_ops.core.package_files import shipped_folder

LOADER_FILE_NAME = "analytics_ops_dags.py"
CONFIG_VARIABLE = "ANALYTICS_OPS_CONFIG"


def suite_dag_ids() -> list[str]:
    """Every DAG the package ships, by dag_id (= the file name of its DAG file)."""
    return sorted(p.stem for p in shipped_folder("dags").glob("*.py") if not p.name.startswith("_"))


def check_enabled(enabled: Iterable[str] | None) -> list[str]:
    """The dag_ids to load (every one when `enabled` is None); an unknown dag_id is refused by name."""
    known = suite_dag_ids()
    if enabled is None:
        return known
    chosen = list(dict.fromkeys(enabled))
    unknown = [dag_id for dag_id in chosen if dag_id not in known]
    if unknown:
        raise ValueError(f"unknown analytics-ops DAG(s) {', '.join(unknown)}; the package ships: {', '.join(known)}")
    if not chosen:
        raise ValueError("no analytics-ops DAG enabled: name at least one, or None for all")
    return chosen


def use_config(config: str | os.PathLike[str] | None) -> None:
    """Point the suite at `config` (None: $ANALYTICS_OPS_CONFIG, else the package's shipped file).

    The DAG processor and the tasks parse the loader file, so setting the variable here reaches them;
    the API server (Ops page) and the triggerer (deadline callbacks) never parse it and read the
    variable from their own environment. A variable set there to another file would make the
    components disagree: refused, with both paths named.
    """
    if config is None:
        return
    wanted = str(Path(config).expanduser())
    current = os.environ.get(CONFIG_VARIABLE)
    if current is not None and Path(current).expanduser() != Path(wanted):
        raise ValueError(
            f"{CONFIG_VARIABLE}={current} in Airflow's environment, but the analytics-ops DAG file names "
            f"{wanted}: set both to the same file"
        )
    os.environ[CONFIG_VARIABLE] = wanted


def load_suite_dags(
    namespace: dict,
    *,
    enabled: Iterable[str] | None = None,
    config: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Run the enabled DAG files of the package; their DAGs register with the calling DAG file.

    `namespace` is the loader file's `globals()`: each DAG file runs as a module named after the
    loader's, so Airflow files its DAGs under the loader file. Returns the dag_ids loaded.
    """
    use_config(config)
    dags_dir = shipped_folder("dags")
    loaded = []
    for dag_id in check_enabled(enabled):
        path = dags_dir / f"{dag_id}.py"
        spec = importlib.util.spec_from_file_location(
            f"{namespace.get('__name__', 'analytics_ops_dags')}.{dag_id}", path
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        loaded.append(dag_id)
    return loaded


def loader_file(*, enabled: Iterable[str] | None, config: str | os.PathLike[str] | None) -> str:
    """The text of the DAG-folder file `analytics-ops install-dags` writes."""
    chosen = None if enabled is None else check_enabled(enabled)
    enabled_text = (
        "None  # every DAG of the package"
        if chosen is None
        else "[\n" + "".join(f"    {dag_id!r},\n" for dag_id in chosen) + "]"
    )
    config_text = repr(str(Path(config).expanduser().resolve())) if config is not None else "None"
    shipped = textwrap.fill(", ".join(suite_dag_ids()), width=96, initial_indent="  ", subsequent_indent="  ")
    return LOADER_TEMPLATE.format(enabled=enabled_text, config=config_text, shipped=shipped)


LOADER_TEMPLATE = '''"""analytics-ops: the suite's Airflow DAGs, loaded from the installed `analytics-ops` package.

Written by `analytics-ops install-dags`; edit the two settings below (or run it again) to change them.
Each DAG keeps its dag_id and its runbook (doc_md) as in the package; parsing this file opens no
connection. Upgrading the package upgrades the DAGs: this file stays as it is.

- CONFIG: the suite's config file (validate it with `analytics-ops check-config PATH`). None: the
  variable ANALYTICS_OPS_CONFIG, else the config shipped in the package. The Ops page (API server) and
  the deadline alerts (triggerer) read ANALYTICS_OPS_CONFIG: set it there to the same file.
- ENABLED_DAGS: the dag_ids to load, or None for every one. The package ships:
{shipped}
"""

from analytics_ops.dag_folder import load_suite_dags

CONFIG = {config}
ENABLED_DAGS = {enabled}

load_suite_dags(globals(), enabled=ENABLED_DAGS, config=CONFIG)
'''
