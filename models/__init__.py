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
    from models.scorer import Prediction, Scorer
    from models.tasks import TaskSpec

_EXPORTS = {
    "Scorer": "models.scorer",
    "Prediction": "models.scorer",
    "TaskSpec": "models.tasks",
    "ModelConfig": "models.config",
    "TrainConfig": "models.config",
    "clean_text": "models.text",
}

__all__ = [
    "SHIPPED_MODEL_DIR",
    "ModelConfig",
    "Prediction",
    "Scorer",
    "TaskSpec",
    "TrainConfig",
    "clean_text",
]


def __getattr__(name: str) -> Any:
    # Lazy so that `import models` (and `finsent --help`) does not pay for torch.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
