"""`models` stands alone: importing it pulls in neither pipeline, Airflow nor Streamlit."""

from __future__ import annotations

import subprocess
import sys


def test_models_imports_nothing_of_ours_or_the_apps() -> None:
    code = (
        "import sys, models, models.scorer, models.train, models.evaluate, models.testing\n"
        "from models import Scorer, Prediction\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pipeline', 'airflow', 'streamlit', 'dags', 'dashboard'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_import_models_is_lazy() -> None:
    code = "import sys, models; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
