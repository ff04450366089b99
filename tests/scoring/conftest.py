"""Fixtures for the scoring stage: tiny real models, articles inserted through the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from pipeline.db import make_engine


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete random tiny model directory (seed 0)."""
    from models.testing import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny-seed0") / "model", seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another tiny model (seed 1): different weights, so a different version."""
    from models.testing import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny-seed1") / "model", seed=1)


@pytest.fixture(scope="session")
def tiny_scorer(tiny_model_dir: Path) -> Any:
    """The real Scorer on the tiny model, with the CPU defaults a user gets."""
    from models import Scorer

    return Scorer.from_pretrained(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def tokenizer(tiny_scorer: Any) -> Any:
    """The real MiniLM tokenizer (the one the tiny and the shipped model use)."""
    return tiny_scorer.tokenizer


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh migrated database, SQLite and PostgreSQL."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
