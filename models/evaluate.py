"""``finsent evaluate``: what an analyst needs to trust a model on a labelled CSV.

Per task: accuracy, macro- and weighted-F1, per-class precision/recall/F1/support, the
confusion matrix, and calibration — the expected calibration error (ECE) of the raw
softmax and of the model's temperature-scaled probabilities (what ``Scorer.predict``
returns). With ``by=COLUMN``, the same for the rows of each value of that column.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.data import TaskData, read_labelled_csv
from models.metrics import classification_report, expected_calibration_error, softmax
from models.tasks import NEWS_SENTIMENT, SENTIMENT, TaskSpec, UnknownLabelError

if TYPE_CHECKING:
    from models.scorer import Scorer

# The value a blank cell of the --by column is reported under.
BLANK_GROUP = "(blank)"


def task_report(
    spec: TaskSpec, logits: np.ndarray, y_true: Sequence[int], *, temperature: float
) -> dict[str, Any]:
    """classification_report of ``logits`` against ``y_true``, plus ``calibration``: the
    head's temperature and the ECE (15 bins) before (T = 1) and after scaling by it."""
    report = classification_report(y_true, logits.argmax(axis=1).tolist(), spec.labels)
    report["calibration"] = {
        "temperature": round(float(temperature), 4),
        "ece_before": round(expected_calibration_error(softmax(logits), y_true), 4),
        "ece_after": round(expected_calibration_error(softmax(logits / temperature), y_true), 4),
    }
    return report


def _reports(
    specs: Sequence[TaskSpec],
    columns: Mapping[str, list[str]],
    logits: Mapping[str, np.ndarray],
    rows: Sequence[int],
    temperatures: Mapping[str, float],
) -> dict[str, dict[str, Any]]:
    """{task: report} over the given rows (``logits`` are indexed by row)."""
    reports = {}
    for spec in specs:
        labelled = [i for i in rows if columns[spec.name][i]]
        if not labelled:
            continue
        y_true = [spec.label_index(columns[spec.name][i]) for i in labelled]
        reports[spec.name] = task_report(
            spec,
            logits[spec.name][labelled],
            y_true,
            temperature=temperatures.get(spec.name, 1.0),
        )
    return reports


def evaluate_csv(
    scorer: Scorer,
    path: str | Path,
    *,
    tasks: Sequence[str] | None = None,
    by: str | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """``{task: report}`` for every model task that has a column in ``path`` (see
    :func:`task_report`); the ``sentiment`` column is scored by the head that labels
    articles (:attr:`Scorer.article_sentiment_head`). With ``by``, ``{"overall": {task:
    report}, "by": COLUMN, "groups": {value: {task: report}}}``, groups in sorted order (a
    blank cell is the group ``"(blank)"``).

    Rows with a blank cell for a task are left out of that task. Unknown label names raise
    :class:`~models.tasks.UnknownLabelError` naming all of them; a ``by`` column the file
    does not have is a ``ValueError`` naming the columns it has.
    """
    texts, columns = read_labelled_csv(path)
    specs = [t for t in scorer.tasks if t.name in columns and (tasks is None or t.name in tasks)]
    if not specs:
        raise ValueError(
            f"{path}: no column for any model task "
            f"(model tasks: {[t.name for t in scorer.tasks]}, columns: {list(columns)})"
        )
    if by is not None and by not in columns:
        raise ValueError(f"{path}: no column {by!r} to group by (columns: {list(columns)})")
    problems = []
    for spec in specs:
        unknown = sorted({v for v in columns[spec.name] if v and v not in spec.labels})
        if unknown:
            problems.append(f"unknown {spec.name} label(s) {unknown}")
    if problems:
        raise UnknownLabelError(f"{path}: " + "; ".join(problems))
    needed = sorted({i for s in specs for i, v in enumerate(columns[s.name]) if v})
    raw = scorer.predict_logits([texts[i] for i in needed], batch_size=batch_size)
    # The sentiment column is read from the head that labels articles (a news head when
    # the model has one), as `finsent predict` and the scoring stage report it.
    head = {s.name: s.name for s in specs}
    if SENTIMENT.name in head:
        head[SENTIMENT.name] = scorer.article_sentiment_head
    temperatures = {name: scorer.temperatures.get(h, 1.0) for name, h in head.items()}
    # Logits indexed by CSV row (rows no task needs stay zero and are never read).
    logits = {}
    for spec in specs:
        full = np.zeros((len(texts), spec.num_labels), dtype=np.float32)
        full[needed] = raw[head[spec.name]]
        logits[spec.name] = full
    overall = _reports(specs, columns, logits, range(len(texts)), temperatures)
    if by is None:
        return overall
    members: dict[str, list[int]] = {}
    for i, value in enumerate(columns[by]):
        members.setdefault(value or BLANK_GROUP, []).append(i)
    groups = {
        value: _reports(specs, columns, logits, members[value], temperatures)
        for value in sorted(members)
    }
    return {"overall": overall, "by": by, "groups": groups}


def tweet_dev_sets(card: Mapping[str, Any], tasks: Sequence[TaskSpec]) -> dict[str, TaskData]:
    """The development split of each tweet task of ``tasks``, re-created from a model card
    (same files, seed and fraction; the split digest is checked), cleaned texts. A news
    head's dev set is the fixed news dev split, not a split of the card's files."""
    from models.config import TrainConfig
    from models.data import load_task_data, split_digest, stratified_split

    tc = TrainConfig(**{**card["train_config"], "task_weights": {}})
    sets = {}
    for spec in tasks:
        if spec.name == NEWS_SENTIMENT.name:
            continue
        info = card["data"][spec.name]
        data = load_task_data(info["file"], spec)
        _, dev_idx = stratified_split(data.labels, fraction=tc.dev_fraction, seed=tc.split_seed)
        dev = data.subset(dev_idx)
        if split_digest(dev.texts) != info["dev_digest"]:
            raise ValueError(f"{info['file']}: dev split differs from the one in the card")
        sets[spec.name] = dev
    return sets


def dev_split_reports(scorer: Scorer, *, batch_size: int = 128) -> dict[str, dict]:
    """Re-create the model's development split from its card (:func:`tweet_dev_sets`)
    and evaluate ``scorer`` on it."""
    reports = {}
    for name, dev in tweet_dev_sets(scorer.card, scorer.tasks).items():
        logits = scorer.predict_logits(list(dev.texts), batch_size=batch_size, clean=False)
        reports[name] = task_report(
            dev.task,
            logits[name],
            dev.labels,
            temperature=scorer.temperatures.get(name, 1.0),
        )
    return reports


def _brief(reports: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    return {
        task: {k: round(r[k], 4) for k in ("n", "accuracy", "macro_f1")}
        for task, r in reports.items()
    }


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m models.evaluate MODEL_DIR``: a model's figures on every development and
    evaluation set — the tweet dev split (re-created from the card; needs the training
    files), the news dev split (models/data/news_dev.csv) and the hand-written news set —
    unquantised and with each quantisation, side by side (the int8 cost), as JSON. A
    topic-only model gets no news dev split."""
    import argparse
    import json
    import time

    from models.data import NEWS_DEV_FILE
    from models.scorer import QUANTIZE_CHOICES, Scorer

    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--news", type=Path, default=here / "data" / "news_headlines_eval.csv")
    parser.add_argument("--news-dev", type=Path, default=NEWS_DEV_FILE)
    parser.add_argument(
        "--no-tweet-dev", action="store_true", help="skip the tweet dev split (slowest part)"
    )
    parser.add_argument("--quantize", nargs="+", default=list(QUANTIZE_CHOICES))
    parser.add_argument(
        "--write-card",
        action="store_true",
        help="also store the figures as the card's `evaluation` (outside the version hash)",
    )
    args = parser.parse_args(argv)
    rows: dict[str, Any] = {}
    for quantize in args.quantize:
        scorer = Scorer.from_pretrained(args.model_dir, device="cpu", quantize=quantize)
        started = time.time()
        row: dict[str, Any] = {}
        if not args.no_tweet_dev:
            row["tweet_dev"] = _brief(dev_split_reports(scorer))
        if "sentiment" in {t.name for t in scorer.tasks}:  # not a topic-only model
            news_dev = evaluate_csv(scorer, args.news_dev, tasks=["sentiment"], by="source")
            row["news_dev"] = _brief(news_dev["overall"])
            row["news_dev_by_source"] = {
                value: _brief(reports) for value, reports in news_dev["groups"].items()
            }
        news = evaluate_csv(scorer, args.news)
        row["news_eval"] = _brief(news)
        if "sentiment" in news:
            row["news_eval_confusion_sentiment"] = news["sentiment"]["confusion"]
        row["seconds"] = round(time.time() - started, 1)
        rows[quantize] = row
    print(json.dumps(rows, indent=2))
    if args.write_card:
        words = sys.argv[1:] if argv is None else list(argv)
        command = shlex.join(["python", "-m", "models.evaluate", *words])
        write_evaluation(args.model_dir, {"command": command, "note": EVALUATION_NOTE, **rows})


EVALUATION_NOTE = (
    "inference at the model's max_length; fp32 ('none') is the CPU default, "
    "int8 is FINSENT_QUANTIZE=int8"
)


def write_evaluation(model_dir: Path, evaluation: Mapping[str, Any]) -> None:
    """Set the card's ``evaluation`` (the card is not hashed: the version stays), written
    to a temporary file and renamed over the card, so a failure never leaves half a card."""
    import json

    from models.checkpoint import CARD

    path = Path(model_dir) / CARD
    card = json.loads(path.read_text())
    card["evaluation"] = dict(evaluation)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(card, indent=2, default=str) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    main()
