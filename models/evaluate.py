"""``finsent evaluate``: per-task metrics of a model on a labelled CSV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from models.data import read_labelled_csv
from models.metrics import classification_report
from models.tasks import UnknownLabelError

if TYPE_CHECKING:
    from models.scorer import Scorer


def evaluate_csv(
    scorer: Scorer, path: str | Path, *, tasks: Sequence[str] | None = None, batch_size: int = 64
) -> dict[str, dict]:
    """``{task: report}`` for every model task that has a column in ``path``.

    Rows with a blank cell for a task are left out of that task. Unknown label names raise
    :class:`~models.tasks.UnknownLabelError` naming all of them.
    """
    texts, columns = read_labelled_csv(path)
    specs = [t for t in scorer.tasks if t.name in columns and (tasks is None or t.name in tasks)]
    if not specs:
        raise ValueError(
            f"{path}: no column for any model task "
            f"(model tasks: {[t.name for t in scorer.tasks]}, columns: {list(columns)})"
        )
    problems = []
    for spec in specs:
        unknown = sorted({v for v in columns[spec.name] if v and v not in spec.labels})
        if unknown:
            problems.append(f"unknown {spec.name} label(s) {unknown}")
    if problems:
        raise UnknownLabelError(f"{path}: " + "; ".join(problems))
    needed = sorted({i for s in specs for i, v in enumerate(columns[s.name]) if v})
    logits = scorer.predict_logits([texts[i] for i in needed], batch_size=batch_size)
    position = {row: k for k, row in enumerate(needed)}
    reports = {}
    for spec in specs:
        rows = [i for i, v in enumerate(columns[spec.name]) if v]
        y_true = [spec.label_index(columns[spec.name][i]) for i in rows]
        y_pred = logits[spec.name][[position[i] for i in rows]].argmax(axis=1).tolist()
        reports[spec.name] = classification_report(y_true, y_pred, spec.labels)
    return reports


def dev_split_reports(scorer: Scorer, *, batch_size: int = 128) -> dict[str, dict]:
    """Re-create the model's development split from its card (same files, seed, fraction;
    the split digest is checked) and evaluate ``scorer`` on it."""
    from models.config import TrainConfig
    from models.data import load_task_data, split_digest, stratified_split

    card = scorer.card
    tc = TrainConfig(**{**card["train_config"], "task_weights": {}})
    reports = {}
    for spec in scorer.tasks:
        info = card["data"][spec.name]
        data = load_task_data(info["file"], spec)
        _, dev_idx = stratified_split(data.labels, fraction=tc.dev_fraction, seed=tc.split_seed)
        dev = data.subset(dev_idx)
        if split_digest(dev.texts) != info["dev_digest"]:
            raise ValueError(f"{info['file']}: dev split differs from the one in the card")
        logits = scorer.predict_logits(list(dev.texts), batch_size=batch_size)[spec.name]
        reports[spec.name] = classification_report(dev.labels, logits.argmax(1), spec.labels)
    return reports


def main() -> None:
    """``python -m models.evaluate MODEL_DIR``: dev-split and news-sentence figures of a
    model, unquantised and int8, side by side (the int8 accuracy cost)."""
    import argparse
    import json
    import time

    from models.scorer import Scorer

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument(
        "--news", type=Path, default=Path(__file__).parent / "data" / "news_headlines_eval.csv"
    )
    args = parser.parse_args()
    rows = {}
    for quantize in ("none", "int8"):
        scorer = Scorer.from_pretrained(args.model_dir, device="cpu", quantize=quantize)
        started = time.time()
        dev = dev_split_reports(scorer)
        news = evaluate_csv(scorer, args.news)
        rows[quantize] = {
            "dev": {
                t: {k: round(r[k], 4) for k in ("n", "accuracy", "macro_f1")}
                for t, r in dev.items()
            },
            "news": {
                t: {k: round(r[k], 4) for k in ("n", "accuracy", "macro_f1")}
                for t, r in news.items()
            },
            "news_confusion_sentiment": news["sentiment"]["confusion"]
            if "sentiment" in news
            else None,
            "seconds": round(time.time() - started, 1),
        }
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
