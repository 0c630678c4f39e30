"""The name a Celery worker reports for its task instances (`[core] hostname_callable`).

Airflow records `socket.getfqdn()` as each task instance's `hostname` by default. Several workers on
one machine (scripts/celery.sh: each with its own working, home and temporary folders, as if on
separate hosts) would all report the same name; each sets `AOPS_WORKER_HOSTNAME` to its own, so the
UI, the REST API and the tests can tell which worker ran which task. Unset, Airflow's default.

Glue of that one-machine deployment, not of the suite (a container or a host has its own name):
scripts/celery.sh puts the checkout on the workers' PYTHONPATH to import it.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("AOPS_WORKER_HOSTNAME") or socket.getfqdn()
