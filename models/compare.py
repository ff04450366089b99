"""Is model B better than model A, or is the difference noise? Both models score the same
texts, so the comparison is paired: per set, the difference of accuracy and macro-F1 with a
95% interval from a paired bootstrap (the same resampled texts for both models), and
McNemar's exact test on the texts only one of the two gets right::

    python -m models.compare models/finsent-minilm runs/candidate [--resamples 2000] [--json]

The sets: the tweet dev split of each task (re-created from A's card; B must have been
trained with the same split), the news dev split (models/data/news_dev.csv) and the
hand-written news set, each read by the head that labels it, fp32 at inference settings.
The selection score's difference (the mean dev macro-F1 that training and soups choose on)
gets its own interval: each resample draws every dev set afresh.

With 257 news dev sentences one sentence is 0.4 points, so a difference of a point or two
there is within the noise; this says how far within.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import LoadedModel, load_model_dir
from models.data import NEWS_DEV_FILE, TaskData, read_labelled_csv
from models.scorer import Scorer
from models.soup import DevSet, dev_sets, score_sets
from models.tasks import SENTIMENT, TOPIC
from models.text import clean_text
from models.train import shared_heads

NEWS_EVAL_FILE = Path(__file__).resolve().parent / "data" / "news_headlines_eval.csv"
DEFAULT_RESAMPLES = 2000


def macro_f1_weighted(
    weights: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, n_labels: int
) -> np.ndarray:
    """Macro-F1 of each row of ``weights`` (resamples × texts: how often each text is
    drawn), as :func:`models.metrics.classification_report` computes it: classes with
    neither support nor predictions are left out of the mean."""
    eye = np.eye(n_labels)
    truth, predicted = eye[y_true], eye[y_pred]
    tp = weights @ (truth * predicted)
    support = weights @ truth
    n_predicted = weights @ predicted
    precision = np.divide(tp, n_predicted, out=np.zeros_like(tp), where=n_predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    active = (support > 0) | (n_predicted > 0)
    return np.asarray((f1 * active).sum(axis=1) / np.maximum(active.sum(axis=1), 1))


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value: ``only_a`` texts only A gets right, ``only_b`` only
    B; under no difference each of them is a fair coin."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1))
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True)
class PairedSet:
    """One set's labels and both models' predictions (label indices)."""

    labels: np.ndarray
    pred_a: np.ndarray
    pred_b: np.ndarray
    n_labels: int


def compare_set(paired: PairedSet, weights: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """The figures of one set and the macro-F1 differences (B − A) per resample."""
    y, a, b = paired.labels, paired.pred_a, paired.pred_b
    right_a, right_b = a == y, b == y
    acc_diff = weights @ (right_b.astype(float) - right_a.astype(float)) / len(y)
    f1_diff = macro_f1_weighted(weights, y, b, paired.n_labels) - macro_f1_weighted(
        weights, y, a, paired.n_labels
    )
    ones = np.ones((1, len(y)))
    f1_a = float(macro_f1_weighted(ones, y, a, paired.n_labels)[0])
    f1_b = float(macro_f1_weighted(ones, y, b, paired.n_labels)[0])
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    figures = {
        "n": len(y),
        "accuracy": {
            "a": float(right_a.mean()),
            "b": float(right_b.mean()),
            **_difference(float(right_b.mean() - right_a.mean()), acc_diff),
        },
        "macro_f1": {"a": f1_a, "b": f1_b, **_difference(f1_b - f1_a, f1_diff)},
        "only_a_right": only_a,
        "only_b_right": only_b,
        "mcnemar_p": mcnemar_p(only_a, only_b),
    }
    return figures, f1_diff


def _difference(observed: float, resampled: np.ndarray) -> dict[str, Any]:
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {
        "diff": observed,
        "ci95": [float(low), float(high)],
        "b_not_better": float((resampled <= 0).mean()),
    }


def bootstrap_weights(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, n) counts: how often each of the n texts is drawn in each resample."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)


def compare_predictions(
    sets: Mapping[str, PairedSet],
    selection_sets: Sequence[str],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Every set's paired figures, and the selection score's (mean macro-F1 over
    ``selection_sets``) difference with its interval. Deterministic for a given seed."""
    if resamples < 100:
        raise ValueError(f"resamples must be at least 100, got {resamples}")
    rng = np.random.default_rng(seed)
    figures, f1_diffs = {}, {}
    for name, paired in sets.items():
        if len(paired.labels) == 0:
            raise ValueError(f"set {name} has no labelled text")
        weights = bootstrap_weights(len(paired.labels), resamples, rng)
        figures[name], f1_diffs[name] = compare_set(paired, weights)
    result: dict[str, Any] = {"resamples": resamples, "seed": seed, "sets": figures}
    chosen = [name for name in selection_sets if name in figures]
    if chosen:
        a = float(np.mean([figures[n]["macro_f1"]["a"] for n in chosen]))
        b = float(np.mean([figures[n]["macro_f1"]["b"] for n in chosen]))
        resampled = np.mean([f1_diffs[n] for n in chosen], axis=0)
        result["selection"] = {"sets": chosen, "a": a, "b": b, **_difference(b - a, resampled)}
    return result


def _check_same_dev_split(a: LoadedModel, b: LoadedModel, dir_a: Path, dir_b: Path) -> None:
    for task in a.tasks:
        info_a = a.card.get("data", {}).get(task.name)
        info_b = b.card.get("data", {}).get(task.name)
        if not isinstance(info_a, dict) or not isinstance(info_b, dict):
            continue
        if "dev_digest" in info_a and info_a.get("dev_digest") != info_b.get("dev_digest"):
            raise ValueError(
                f"{dir_b} was trained with another {task.name} dev split than {dir_a}; "
                "its figures on that split would include texts it trained on"
            )


def _news_eval_sets(news_eval_file: Path, scorer: Scorer) -> dict[str, DevSet]:
    """The hand-written set's sentiment (on the head that labels articles) and topic."""
    texts, columns = read_labelled_csv(news_eval_file)
    cleaned = tuple(clean_text(t) for t in texts)
    heads = {t.name for t in scorer.tasks}
    sets = {}
    if SENTIMENT.name in heads and "sentiment" in columns:
        data = TaskData(SENTIMENT, cleaned, tuple(SENTIMENT.encode(columns["sentiment"])))
        sets["news_eval_sentiment"] = DevSet(data, scorer.article_sentiment_head)
    if TOPIC.name in heads and "topic" in columns:
        data = TaskData(TOPIC, cleaned, tuple(TOPIC.encode(columns["topic"])))
        sets["news_eval_topic"] = DevSet(data, TOPIC.name)
    return sets


def compare_models(
    dir_a: str | Path,
    dir_b: str | Path,
    *,
    news_dev_file: str | Path = NEWS_DEV_FILE,
    news_eval_file: str | Path = NEWS_EVAL_FILE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Score both models (fp32, CPU, inference settings) on every set A has a head for and
    compare them (:func:`compare_predictions`)."""
    dir_a, dir_b = Path(dir_a), Path(dir_b)
    loaded_a, loaded_b = load_model_dir(dir_a), load_model_dir(dir_b)
    labels = {t.name: t.labels for t in loaded_a.tasks}
    shared = shared_heads(loaded_b.tasks, labels, str(dir_b), str(dir_a))
    if set(shared) != set(labels):
        raise ValueError(f"{dir_b} lacks heads of {dir_a}: it has {', '.join(shared)}")
    _check_same_dev_split(loaded_a, loaded_b, dir_a, dir_b)
    scorers = [
        Scorer.from_loaded(
            loaded,
            version=str(loaded.card.get("version", path.name)),
            device=torch.device("cpu"),
            quantize="none",
        )
        for loaded, path in ((loaded_a, dir_a), (loaded_b, dir_b))
    ]
    sets = dev_sets(loaded_a.card, loaded_a.tasks, Path(news_dev_file))
    selection_sets = list(sets)
    if Path(news_eval_file).is_file():
        sets.update(_news_eval_sets(Path(news_eval_file), scorers[0]))
    if scorers[0].article_sentiment_head != scorers[1].article_sentiment_head:
        raise ValueError(f"{dir_a} and {dir_b} read news with different heads")
    # Each set's head at inference settings, as soups and training score them.
    logits_a, logits_b = (score_sets(scorer, sets)[2] for scorer in scorers)
    paired = {
        name: PairedSet(
            np.asarray(dev.data.labels),
            logits_a[name].argmax(1),
            logits_b[name].argmax(1),
            len(dev.data.task.labels),
        )
        for name, dev in sets.items()
    }
    result = compare_predictions(paired, selection_sets, resamples=resamples, seed=seed)
    return {
        "a": {"dir": str(dir_a), "version": scorers[0].version},
        "b": {"dir": str(dir_b), "version": scorers[1].version},
        **result,
    }


def _points(value: float) -> str:
    return f"{100 * value:+.2f}"


def format_comparison(result: Mapping[str, Any]) -> str:
    """The comparison as a table: differences in points (B − A) with their 95% intervals."""
    a, b = result["a"], result["b"]
    lines = [
        f"A {a['dir']} ({a['version']})",
        f"B {b['dir']} ({b['version']})",
        f"differences B - A in points, 95% paired bootstrap intervals "
        f"({result['resamples']} resamples, seed {result['seed']})",
        f"{'set':22s}{'n':>6s}  {'acc A':>6s} {'acc B':>6s} {'d acc [95%]':>22s} "
        f"{'McNemar p':>9s}  {'F1 A':>6s} {'F1 B':>6s} {'d F1 [95%]':>22s}",
    ]
    for name, s in result["sets"].items():
        acc, f1 = s["accuracy"], s["macro_f1"]
        lines.append(
            f"{name:22s}{s['n']:6d}  {acc['a']:6.4f} {acc['b']:6.4f} {_interval(acc):>22s} "
            f"{s['mcnemar_p']:9.3f}  {f1['a']:6.4f} {f1['b']:6.4f} {_interval(f1):>22s}"
        )
    if "selection" in result:
        sel = result["selection"]
        lines.append(
            f"selection (mean dev macro-F1 of {', '.join(sel['sets'])}): "
            f"A {sel['a']:.4f}  B {sel['b']:.4f}  d {_interval(sel)}; "
            f"B is not better in {100 * sel['b_not_better']:.0f}% of resamples"
        )
    return "\n".join(lines)


def _interval(d: Mapping[str, Any]) -> str:
    low, high = d["ci95"]
    return f"{_points(d['diff'])} [{_points(low)}, {_points(high)}]"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.compare", description=__doc__)
    parser.add_argument("model_a", type=Path, help="the reference, e.g. models/finsent-minilm")
    parser.add_argument("model_b", type=Path, help="the candidate")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--news-dev", type=Path, default=NEWS_DEV_FILE)
    parser.add_argument("--news-eval", type=Path, default=NEWS_EVAL_FILE)
    parser.add_argument("--json", action="store_true", help="one JSON document")
    args = parser.parse_args(argv)
    try:
        result = compare_models(
            args.model_a,
            args.model_b,
            news_dev_file=args.news_dev,
            news_eval_file=args.news_eval,
            resamples=args.resamples,
            seed=args.seed,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else format_comparison(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
