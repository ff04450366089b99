"""Model fixtures: a tiny random model directory (fast) and the shipped checkpoint (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.testing import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def tiny_scorer(tiny_model_dir: Path):
    from models import Scorer

    return Scorer.from_pretrained(tiny_model_dir, device="cpu", quantize="none")


@pytest.fixture(scope="session")
def shipped_scorer():
    from models import SHIPPED_MODEL_DIR, Scorer

    return Scorer.from_pretrained(SHIPPED_MODEL_DIR, device="cpu")
