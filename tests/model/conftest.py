"""Model fixtures: a tiny random model directory (fast) and the shipped checkpoint (slow)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def shipped_scorer():
    from models import SHIPPED_MODEL_DIR, Scorer

    return Scorer.from_pretrained(SHIPPED_MODEL_DIR, device="cpu")
