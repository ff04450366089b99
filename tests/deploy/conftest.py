"""The deployment tests reuse the helpers of tests/dags (feeds on loopback, subprocesses)."""

from __future__ import annotations

import sys
from pathlib import Path

# pytest puts a test folder on sys.path only when it collects it; these tests also run alone.
_DAG_TESTS = str(Path(__file__).resolve().parents[1] / "dags")
if _DAG_TESTS not in sys.path:
    sys.path.insert(0, _DAG_TESTS)
