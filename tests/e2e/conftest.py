"""End-to-end tests reuse the loopback receivers of tests/detect/detect_helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

# pytest puts a test folder on sys.path only when it collects it; these tests also run alone.
_DETECT_TESTS = str(Path(__file__).resolve().parents[1] / "detect")
if _DETECT_TESTS not in sys.path:
    sys.path.insert(0, _DETECT_TESTS)
