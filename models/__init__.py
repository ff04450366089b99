"""finsent's multi-task model: one encoder, a head per task, trained jointly.

Stands alone: imports torch, transformers and peft, never ``pipeline``, Airflow or Streamlit.
Heavy modules load lazily, so ``import models`` is cheap until a name is used.

>>> from models import Scorer  # doctest: +SKIP
>>> scorer = Scorer.from_pretrained("models/finsent-minilm")  # doctest: +SKIP
>>> scorer.predict(["Apple beats estimates"])[0].sentiment  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The checkpoint shipped inside this package; the default model everywhere.
SHIPPED_MODEL_DIR = Path(__file__).resolve().parent / "finsent-minilm"

if TYPE_CHECKING:
    from models.config import ModelConfig, TrainConfig
    from models.evaluate import evaluate_csv
    from models.scorer import Prediction, Scorer
    from models.tasks import (
        SENTIMENT,
        SENTIMENT_LABELS,
        TOPIC,
        TOPIC_LABELS,
        TaskSpec,
        UnknownLabelError,
    )
    from models.text import clean_text
    from models.train import train_model

_EXPORTS = {
    "Scorer": "models.scorer",
    "Prediction": "models.scorer",
    "TaskSpec": "models.tasks",
    # The label names of the shipped tasks, in head order: the one list everyone reads.
    "SENTIMENT_LABELS": "models.tasks",
    "TOPIC_LABELS": "models.tasks",
    "ModelConfig": "models.config",
    "TrainConfig": "models.config",
    "clean_text": "models.text",
    # Training and evaluation, for `finsent train` and `finsent evaluate`.
    "SENTIMENT": "models.tasks",
    "TOPIC": "models.tasks",
    "UnknownLabelError": "models.tasks",
    "train_model": "models.train",
    "evaluate_csv": "models.evaluate",
}

__all__ = [
    "SENTIMENT",
    "SENTIMENT_LABELS",
    "SHIPPED_MODEL_DIR",
    "TOPIC",
    "TOPIC_LABELS",
    "ModelConfig",
    "Prediction",
    "Scorer",
    "TaskSpec",
    "TrainConfig",
    "UnknownLabelError",
    "clean_text",
    "evaluate_csv",
    "train_model",
]


def __getattr__(name: str) -> Any:
    # Lazy so that `import models` (and `finsent --help`) does not pay for torch.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
