"""Airflow's ``[core] hostname_callable`` for the scale-out test.

Both Celery workers of the test run on this one machine, so the host name Airflow
records on each task instance would be the same for both. Each worker process gets
``FINSENT_TEST_WORKER_NAME`` instead (as a container or pod name would differ in a
real deployment), and its task processes report it through this callable.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("FINSENT_TEST_WORKER_NAME") or socket.getfqdn()
