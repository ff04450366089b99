"""How good a set of teachers is: the mean of several finsent models' calibrated
probabilities, scored on the dev sets a soup or a training run is selected on.

``finsent train --teacher A --teacher B`` distils from exactly this average (at the
distillation temperature, which does not change the argmax), so this is the figure to
choose teachers by::

    python -m models.ensemble models/finsent-minilm runs/other-model [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import load_model_dir
from models.data import NEWS_DEV_FILE
from models.metrics import classification_report, softmax
from models.scorer import Scorer
from models.soup import dev_sets, score_sets
from models.train import selection_score, shared_heads


def ensemble_reports(
    model_dirs: Sequence[str | Path], *, news_dev_file: str | Path = NEWS_DEV_FILE
) -> dict[str, Any]:
    """Per dev set (from the first model's card), the report of the models' mean
    probabilities ``softmax(z / T_head)``, each model at its own temperatures, fp32 at
    inference settings; and the selection score of that average.

    As in ``finsent train --teacher``, a model may have a subset of the first model's heads
    (a single-task model): each dev set is the mean over the models that have its head."""
    if not model_dirs:
        raise ValueError("an ensemble needs at least one model directory")
    loaded = [load_model_dir(d) for d in model_dirs]
    first = loaded[0]
    labels = {t.name: t.labels for t in first.tasks}
    for path, other in zip(model_dirs[1:], loaded[1:], strict=True):
        shared_heads(other.tasks, labels, str(path), str(model_dirs[0]))
    sets = dev_sets(first.card, first.tasks, Path(news_dev_file))
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for model in loaded:
        scorer = Scorer.from_loaded(
            model,
            version=model.card.get("version", "?"),
            device=torch.device("cpu"),
            quantize="none",
        )
        heads = {t.name for t in model.tasks}
        own = {name: dev for name, dev in sets.items() if dev.head in heads}
        _, _, logits = score_sets(scorer, own)  # each set's head, at inference settings
        for name, dev in own.items():
            p = softmax(logits[name] / model.temperatures.get(dev.head, 1.0))
            sums[name] = sums[name] + p if name in sums else p
            counts[name] = counts.get(name, 0) + 1
    mean = {name: p / counts[name] for name, p in sums.items()}
    reports = {
        name: classification_report(
            dev.data.labels, mean[name].argmax(1).tolist(), dev.data.task.labels
        )
        for name, dev in sets.items()
    }
    brief = {
        name: {k: round(r[k], 4) for k in ("accuracy", "macro_f1")} for name, r in reports.items()
    }
    return {
        "models": [
            {"dir": str(d), "version": m.card.get("version")}
            for d, m in zip(model_dirs, loaded, strict=True)
        ],
        "dev": brief,
        "selection": round(selection_score(brief), 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.ensemble", description=__doc__)
    parser.add_argument("model_dirs", nargs="+", type=Path)
    parser.add_argument("--news-dev", type=Path, default=NEWS_DEV_FILE)
    parser.add_argument("--json", action="store_true", help="one JSON document")
    args = parser.parse_args(argv)
    try:
        result = ensemble_reports(args.model_dirs, news_dev_file=args.news_dev)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name, r in result["dev"].items():
        print(f"{name:16s} accuracy {r['accuracy']:.4f}  macro-F1 {r['macro_f1']:.4f}")
    print(f"selection (mean macro-F1) {result['selection']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
