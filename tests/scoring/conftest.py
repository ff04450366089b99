"""Fixtures for the scoring stage (the tiny model and engines are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another tiny model (seed 1): different weights, so a different version."""
    from models.testing import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny-seed1") / "model", seed=1)


@pytest.fixture(scope="session")
def tokenizer(tiny_scorer: Any) -> Any:
    """The real MiniLM tokenizer (the one the tiny and the shipped model use)."""
    return tiny_scorer.tokenizer
