"""Which layers can be int8 on CPU: quality and speed of partial dynamic quantisation.

    nice .venv/bin/python benchmarks/int8_partial.py [MODEL_DIR] [--posts 1000]

For each variant — fp32, int8 on every ``nn.Linear`` (``FINSENT_QUANTIZE=int8``), and int8
on a part of the encoder only (the feed-forward layers, the attention layers, every layer
but the last, the first four layers) — the news dev split and the hand-written news set
(sentiment accuracy / macro-F1, the cost against fp32 in points) and the CPU time to score
a fixed sample of finance posts, as a ratio to fp32 measured in the same run (the machine
is shared: absolute rates are noisy, ratios from one run are not). Prints JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from finance_posts import finance_posts  # noqa: E402

from models import SHIPPED_MODEL_DIR, Scorer  # noqa: E402
from models.data import NEWS_DEV_FILE  # noqa: E402
from models.evaluate import evaluate_csv  # noqa: E402
from models.network import MultiTaskModel  # noqa: E402
from models.scorer import quantize_int8  # noqa: E402

HAND_WRITTEN = REPO / "models" / "data" / "news_headlines_eval.csv"

# Which encoder Linear modules each variant quantises (by qualified name); None: none.
VARIANTS: dict[str, Callable[[str], bool] | None] = {
    "fp32": None,
    "int8 all": lambda name: True,
    "int8 feed-forward only": lambda name: (
        name.endswith(("intermediate.dense", "output.dense")) and "attention" not in name
    ),
    "int8 attention only": lambda name: "attention" in name,
    "int8 all but the last layer": lambda name: ".layer.5." not in name,
    "int8 layers 0-3 only": lambda name: any(f".layer.{k}." in name for k in range(4)),
}


def quantized(scorer: Scorer, keep: Callable[[str], bool], *, every: bool) -> Scorer:
    """A copy of ``scorer`` with the kept encoder Linears in dynamic int8 (``every``: all
    Linears, heads included, exactly what ``quantize="int8"`` does)."""
    from torch.ao.quantization import quantize_dynamic

    model = copy.deepcopy(scorer.model)
    if every:
        clone = copy.copy(scorer)
        clone.model = cast(MultiTaskModel, quantize_int8(model).eval())
        clone.quantize = "int8"
        return clone
    names = {
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.startswith("encoder.") and keep(name)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = quantize_dynamic(model, names, dtype=torch.qint8)
    clone = copy.copy(scorer)
    clone.model = cast(MultiTaskModel, model.eval())
    clone.quantize = "int8"
    return clone


def sentiment(scorer: Scorer, path: Path) -> dict[str, float]:
    report = evaluate_csv(scorer, path, tasks=["sentiment"])["sentiment"]
    return {"accuracy": round(report["accuracy"], 4), "macro_f1": round(report["macro_f1"], 4)}


def cpu_seconds(scorer: Scorer, posts: list[str]) -> float:
    scorer.predict(posts[:64])  # warm-up
    started = time.process_time()
    scorer.predict(posts, batch_size=64)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir", nargs="?", type=Path, default=SHIPPED_MODEL_DIR)
    parser.add_argument("--posts", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    base = Scorer.from_pretrained(args.model_dir, device="cpu", quantize="none")
    posts = finance_posts(args.posts)
    rows: dict[str, dict[str, Any]] = {}
    for name, keep in VARIANTS.items():
        scorer = base if keep is None else quantized(base, keep, every=name == "int8 all")
        rows[name] = {
            "news_dev": sentiment(scorer, NEWS_DEV_FILE),
            "hand_written": sentiment(scorer, HAND_WRITTEN),
            "cpu_s": round(cpu_seconds(scorer, posts), 2),
        }
    fp32 = rows["fp32"]
    for row in rows.values():
        for key in ("news_dev", "hand_written"):
            row[key]["cost_points"] = round(100 * (fp32[key]["accuracy"] - row[key]["accuracy"]), 2)
        row["speed_vs_fp32"] = round(fp32["cpu_s"] / row["cpu_s"], 2)
    print(
        json.dumps(
            {"model": base.version, "posts": len(posts), "variants": rows},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
