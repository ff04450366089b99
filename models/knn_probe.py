"""Would a nearest-neighbour memory of the training texts help the heads? (issue 12, a probe)

Each dev text's head probabilities are mixed with a vote of its k nearest training texts,
``p = (1 − λ)·p_head + λ·p_knn``; the vote weighs each neighbour by ``exp(cos / τ)`` and
the vectors are the ones the head reads (its branch's, for a branched task). The memory is
the model's own training split: the tweet training rows of the task, plus the news training
rows for sentiment.

The grid's best cell per dev set is an upper bound (chosen on the set it is scored on); the
**cross-fitted** figure chooses (k, τ, λ) on one half of the set and scores the other, both
ways, so it is what a choice made in advance would give.

    python -m models.knn_probe models/finsent-minilm
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.data import TaskData, load_task_data, read_labelled_csv, stratified_split
from models.metrics import softmax
from models.scorer import length_batches, logits_for_ids
from models.tasks import SENTIMENT, TOPIC

GRID = [(k, tau, lam) for k in (5, 20, 50) for tau in (0.05, 0.1) for lam in (0.2, 0.4, 0.6)]


def head_inputs(scorer: Any, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], dict]:
    """(the pooled vector each head reads, the logits) per task, in input order."""
    captured: dict[str, list[torch.Tensor]] = {}
    hooks = [
        head.register_forward_hook(
            lambda _m, inp, _o, name=name: captured.setdefault(name, []).append(inp[0])
        )
        for name, head in scorer.model.heads.items()
    ]
    try:
        ids = scorer._tokenize(texts, clean=False)
        pad = scorer.tokenizer.pad_token_id or 0
        logits = logits_for_ids(scorer.model, ids, pad_id=pad, device=scorer.device, batch_size=128)
    finally:
        for hook in hooks:
            hook.remove()
    order = np.array([i for batch in length_batches([len(r) for r in ids], 128) for i in batch])
    vectors = {}
    for name, chunks in captured.items():
        stacked = torch.cat(chunks).float().numpy()
        vectors[name] = np.empty_like(stacked)
        vectors[name][order] = stacked
    return vectors, logits


def knn_probabilities(
    queries: np.ndarray, memory: np.ndarray, labels: np.ndarray, n_labels: int, k: int, tau: float
) -> np.ndarray:
    """The similarity-weighted label vote of each query's k nearest memory rows (cosine)."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    m = memory / np.linalg.norm(memory, axis=1, keepdims=True)
    sims = q @ m.T
    nearest = np.argpartition(-sims, k, axis=1)[:, :k]
    weights = np.exp(np.take_along_axis(sims, nearest, 1) / tau)
    votes = np.zeros((len(q), n_labels))
    for label in range(n_labels):
        votes[:, label] = (weights * (labels[nearest] == label)).sum(1)
    return votes / votes.sum(1, keepdims=True)


def _accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(1) == labels).mean())


def probe(
    head: np.ndarray, knn: Mapping[tuple[int, float], np.ndarray], labels: np.ndarray
) -> dict[str, Any]:
    """Accuracy of the head, of the grid's best cell, and cross-fitted over two halves."""

    def mixed(cell: tuple[int, float, float], rows: np.ndarray) -> float:
        k, tau, lam = cell
        return _accuracy((1 - lam) * head[rows] + lam * knn[k, tau][rows], labels[rows])

    everything = np.arange(len(labels))
    best = max(GRID, key=lambda cell: mixed(cell, everything))
    halves = np.array_split(np.random.default_rng(0).permutation(len(labels)), 2)
    crossed = 0.0
    for fit, score in (halves, halves[::-1]):
        chosen = max(GRID, key=lambda cell: mixed(cell, fit))
        crossed += mixed(chosen, score) * len(score)
    return {
        "head": round(_accuracy(head, labels), 4),
        "best_cell": {"k": best[0], "tau": best[1], "lambda": best[2]},
        "best_cell_accuracy": round(mixed(best, everything), 4),
        "cross_fitted_accuracy": round(crossed / len(labels), 4),
    }


def main(argv: Sequence[str] | None = None) -> None:
    from models.evaluate import tweet_dev_sets
    from models.scorer import Scorer
    from models.train import _hand_written_news_texts, prepare_news

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--news-data", default="../shared/data/news-sentiment/train.csv")
    args = parser.parse_args(argv)
    scorer = Scorer.from_pretrained(args.model_dir, device="cpu", quantize="none")
    dev = tweet_dev_sets(scorer.card, scorer.tasks)
    news_train, news_dev, _ = prepare_news(args.news_data, exclude_texts=_hand_written_news_texts())
    memories: dict[str, list[TaskData]] = {TOPIC.name: [], SENTIMENT.name: [news_train]}
    for spec in (TOPIC, SENTIMENT):
        data = load_task_data(scorer.card["data"][spec.name]["file"], spec)
        split = scorer.card["train_config"]
        train_rows, _ = stratified_split(
            data.labels, fraction=split["dev_fraction"], seed=split["split_seed"]
        )
        memories[spec.name].append(data.subset(train_rows))
    _, hand_values = read_labelled_csv(
        Path(__file__).resolve().parent / "data" / "news_headlines_eval.csv"
    )
    hand_labels = tuple(SENTIMENT.encode(hand_values["sentiment"]))
    hand = TaskData(SENTIMENT, tuple(_hand_written_news_texts()), hand_labels)
    sets = {
        "tweet topic": (TOPIC, dev[TOPIC.name]),
        "tweet sentiment": (SENTIMENT, dev[SENTIMENT.name]),
        "news dev": (SENTIMENT, news_dev),
        "hand-written news": (SENTIMENT, hand),
    }
    results = {}
    for task in (TOPIC, SENTIMENT):
        memory_vectors: list[np.ndarray] = []
        memory_labels: list[int] = []
        for part in memories[task.name]:
            memory_vectors.append(head_inputs(scorer, list(part.texts))[0][task.name])
            memory_labels.extend(part.labels)
        memory = np.concatenate(memory_vectors)
        labels = np.asarray(memory_labels)
        for name, (spec, data) in sets.items():
            if spec is not task:
                continue
            vectors, logits = head_inputs(scorer, list(data.texts))
            head = softmax(logits[task.name] / scorer.temperatures.get(task.name, 1.0))
            knn = {
                (k, tau): knn_probabilities(
                    vectors[task.name], memory, labels, task.num_labels, k, tau
                )
                for k, tau, _ in GRID
            }
            results[name] = probe(head, knn, np.asarray(data.labels))
    print(json.dumps({"model": scorer.version, "grid": GRID, "sets": results}, indent=2))


if __name__ == "__main__":
    main()
