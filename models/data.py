"""Labelled CSVs → examples, the stratified dev splits (tweets; the fixed news split), and
length-bucketed task batches."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.tasks import SENTIMENT, TaskSpec, UnknownLabelError
from models.text import clean_text


@dataclass(frozen=True)
class TaskData:
    """Texts labelled for one task (label indices in the task's head order)."""

    task: TaskSpec
    texts: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> TaskData:
        return TaskData(
            self.task, tuple(self.texts[i] for i in indices), tuple(self.labels[i] for i in indices)
        )


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# What each shared training file is and under which licence it may be used (from
# ../shared/data/README.md), by the SHA-256 of its bytes: a model card names the licences of
# exactly the files its model was trained on, and says nothing for a file it does not know.
KNOWN_DATA = {
    "a9dc5afa2d951070dfb90b91ef40a3231f3efd035597d7fc56c04424e3d80093": {
        "source": "zeroshot/twitter-financial-news-topic (financial tweets)",
        "licence": "MIT",
    },
    "43bd2986ad9a04a35b8b80e2e5f88a3f22076e4f30f9a73296e21f3f9cb47741": {
        "source": "zeroshot/twitter-financial-news-sentiment (financial tweets)",
        "licence": "MIT",
    },
    "8aabc86ade45a2b861a8618055191b80f46f665a9f27adfa03a859a2f19b6949": {
        "source": "news-sentiment: FinEntity Reuters sentences, WSJ headlines, ecosent "
        "translated Dutch economic headlines",
        "licence": "finentity ODC-BY 1.0 (attribution); wsj CC0 1.0; ecosent MIT",
    },
}


def data_file_info(path: str | Path) -> dict[str, str]:
    """A training file's ``file``, ``sha256`` and, when it is a known shared file, its
    ``source`` and ``licence`` (what a model card records of it)."""
    digest = file_sha256(path)
    return {"file": str(path), "sha256": digest, **KNOWN_DATA.get(digest, {})}


def read_labelled_csv(path: str | Path) -> tuple[list[str], dict[str, list[str]]]:
    """(texts, {column: values}) of a CSV with a ``text`` column; blank cells stay ''."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "text" not in reader.fieldnames:
            raise ValueError(f"{path}: needs a 'text' column (found {reader.fieldnames})")
        columns = [c for c in reader.fieldnames if c != "text"]
        texts: list[str] = []
        values: dict[str, list[str]] = {c: [] for c in columns}
        for row in reader:
            texts.append(row["text"] or "")
            for c in columns:
                values[c].append((row.get(c) or "").strip())
    return texts, values


def load_task_data(path: str | Path, task: TaskSpec, *, dedupe: bool = True) -> TaskData:
    """The rows of ``path`` labelled for ``task`` (column named like the task), cleaned.

    Exact duplicates after cleaning are dropped (first kept) so that the same post cannot
    land in both the training and the development split.
    """
    texts, values = read_labelled_csv(path)
    if task.name not in values:
        raise ValueError(f"{path}: no {task.name!r} column (columns: {['text', *values]})")
    rows = [(clean_text(t), v) for t, v in zip(texts, values[task.name], strict=True) if v]
    unknown = sorted({v for _, v in rows if v not in task.labels})
    if unknown:
        raise UnknownLabelError(
            f"{path}: unknown {task.name} label(s) {unknown}; known: {', '.join(task.labels)}"
        )
    seen: set[str] = set()
    kept_texts, kept_labels = [], []
    for text, label in rows:
        if dedupe:
            if text in seen:
                continue
            seen.add(text)
        kept_texts.append(text)
        kept_labels.append(task.label_index(label))
    return TaskData(task, tuple(kept_texts), tuple(kept_labels))


def stratified_split(
    labels: Sequence[Any], *, fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """(train, dev) indices: ``fraction`` of each label goes to dev, drawn with ``seed``.

    A label is anything sortable: a label index, or a tuple such as (label, source) to
    stratify by both."""
    rng = random.Random(seed)
    by_label: dict[Any, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    train, dev = [], []
    for label in sorted(by_label):
        members = by_label[label]
        rng.shuffle(members)
        n_dev = round(len(members) * fraction) if len(members) > 1 else 0
        dev.extend(members[:n_dev])
        train.extend(members[n_dev:])
    return sorted(train), sorted(dev)


# The news development split: a fixed 20% of news-sentiment/train.csv, stratified by
# sentiment and source, kept in the repository (rows and their texts) so that it stays
# the same whatever happens to the source file or this code.
NEWS_DEV_FILE = Path(__file__).resolve().parent / "data" / "news_dev.csv"
NEWS_DEV_FRACTION = 0.2
NEWS_SPLIT_SEED = 1234
NEWS_COLUMNS = ("text", "sentiment", "source")


def news_split_rows(
    path: str | Path, *, fraction: float = NEWS_DEV_FRACTION, seed: int = NEWS_SPLIT_SEED
) -> tuple[list[int], list[int]]:
    """(train, dev) data-row indices (0-based, header excluded) of a news CSV with
    ``text``, ``sentiment`` and ``source`` columns: ``fraction`` of every (sentiment,
    source) stratum goes to dev, drawn with ``seed``. Rows whose cleaned texts are equal
    always land on the same side, so no text is in both."""
    texts, values = read_labelled_csv(path)
    missing = [c for c in NEWS_COLUMNS[1:] if c not in values]
    if missing:
        raise ValueError(f"{path}: needs columns {list(NEWS_COLUMNS)} (missing {missing})")
    first: dict[str, int] = {}
    owner = [first.setdefault(clean_text(text), i) for i, text in enumerate(texts)]
    unique = [i for i in range(len(texts)) if owner[i] == i]
    strata = [(values["sentiment"][i], values["source"][i]) for i in unique]
    _, dev_pos = stratified_split(strata, fraction=fraction, seed=seed)
    dev_owners = {unique[k] for k in dev_pos}
    dev = [i for i in range(len(texts)) if owner[i] in dev_owners]
    train = [i for i in range(len(texts)) if owner[i] not in dev_owners]
    return train, dev


def write_news_dev_file(source: str | Path, out: str | Path = NEWS_DEV_FILE) -> int:
    """Write the dev rows of ``source`` (:func:`news_split_rows`) as a labelled CSV:
    ``row`` (the row in ``source``), ``text``, ``sentiment``, ``source``. Returns the count."""
    texts, values = read_labelled_csv(source)
    _, dev = news_split_rows(source)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", *NEWS_COLUMNS])
        for i in dev:
            writer.writerow([i, texts[i], values["sentiment"][i], values["source"][i]])
    return len(dev)


@dataclass(frozen=True)
class NewsSplit:
    """The fixed news split of a news CSV: sentiment data for training and for dev."""

    train: TaskData
    dev: TaskData
    train_rows: tuple[int, ...]  # data rows of the source CSV
    dev_rows: tuple[int, ...]
    dev_sources: tuple[str, ...]  # per dev example, its `source`


def load_news_split(source: str | Path, *, dev_file: str | Path = NEWS_DEV_FILE) -> NewsSplit:
    """Split ``source`` (news-sentiment/train.csv) as ``dev_file`` fixes it: the rows it
    lists are dev (their texts are checked against ``source``), every other row trains.
    Texts are cleaned as :func:`load_task_data` cleans them."""
    texts, values = read_labelled_csv(source)
    if "sentiment" not in values or "source" not in values:
        raise ValueError(f"{source}: needs columns {list(NEWS_COLUMNS)}")
    with open(dev_file, newline="", encoding="utf-8") as handle:
        listed = [(int(row["row"]), row["text"]) for row in csv.DictReader(handle)]
    for i, text in listed:
        if i >= len(texts) or texts[i] != text:
            raise ValueError(f"{source}: row {i} is not the one {dev_file} lists; wrong file?")
    dev_rows = sorted(i for i, _ in listed)
    dev_set = set(dev_rows)
    train_rows = [i for i in range(len(texts)) if i not in dev_set]

    def task_data(rows: Sequence[int]) -> TaskData:
        return TaskData(
            SENTIMENT,
            tuple(clean_text(texts[i]) for i in rows),
            tuple(SENTIMENT.encode([values["sentiment"][i] for i in rows])),
        )

    return NewsSplit(
        train=task_data(train_rows),
        dev=task_data(dev_rows),
        train_rows=tuple(train_rows),
        dev_rows=tuple(dev_rows),
        dev_sources=tuple(values["source"][i] for i in dev_rows),
    )


def split_digest(texts: Sequence[str]) -> str:
    """A hash identifying a split by its texts (order-independent)."""
    return hashlib.sha256(json.dumps(sorted(texts)).encode()).hexdigest()[:16]


def stratified_limit(data: TaskData, limit: int, *, seed: int) -> TaskData:
    """At most ``limit`` examples, keeping label proportions (for equal-budget studies)."""
    if len(data) <= limit:
        return data
    _, keep = stratified_split(data.labels, fraction=limit / len(data), seed=seed)
    return data.subset(keep)


def mixing_probabilities(sizes: Sequence[int], *, mixing: str, temperature: float) -> list[float]:
    """How often each task's batch is drawn: ∝ n_k, ∝ n_k^(1/T), or uniform."""
    if mixing == "uniform":
        raw = [1.0 for _ in sizes]
    elif mixing == "proportional":
        raw = [float(n) for n in sizes]
    elif mixing == "temperature":
        raw = [float(n) ** (1.0 / temperature) for n in sizes]
    else:
        raise ValueError(f"unknown mixing {mixing!r}")
    total = sum(raw)
    return [r / total for r in raw]


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, *, window: int = 50
) -> list[list[int]]:
    """One shuffled pass as batches of similar length: shuffle, sort within windows of
    ``window`` batches, cut, shuffle the batches. Little padding, still random."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = batch_size * window
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lengths.__getitem__)
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def endless_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random
) -> Iterator[list[int]]:
    """Bucketed batches forever, a fresh shuffle per pass (tasks sampled more than their
    size under temperature/uniform mixing simply start another pass)."""
    while True:
        yield from bucketed_batches(lengths, batch_size, rng)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m models.data news-split SOURCE_CSV``: (re)write models/data/news_dev.csv."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    split = commands.add_parser("news-split", help="write the fixed news development split")
    split.add_argument("source", type=Path, help="news-sentiment/train.csv")
    split.add_argument("--out", type=Path, default=NEWS_DEV_FILE)
    args = parser.parse_args(argv)
    n = write_news_dev_file(args.source, args.out)
    print(f"{n} dev rows written to {args.out}")


if __name__ == "__main__":
    main()
