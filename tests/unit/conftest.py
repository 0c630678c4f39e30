"""Pure unit tests: the library, the DAGs' parse, the config and the docs, with no service at all.

`make test-fast` runs this folder alone, with `--confcutdir=tests/unit` so the stack's conftest
(tests/conftest.py: the test database, Redis, the Slack stand-in) is not loaded; `make test` runs it
with the rest of the suite. A test that needs a server does not belong here.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Airflow reads its home when first imported: a throwaway one unless the environment names one
# (`make test` runs through scripts/with-env, which does).
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="aops-unit-airflow-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)


def pytest_configure(config) -> None:
    """Without the stack there is no Airflow metadata DB: tables for the DagBag, in the throwaway home."""
    if not os.environ["AIRFLOW_HOME"].startswith(tempfile.gettempdir()):
        return
    from airflow import settings
    from airflow.models import import_all_models
    from airflow.models.base import Base

    import_all_models()
    Base.metadata.create_all(settings.engine)
