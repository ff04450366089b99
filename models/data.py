"""Labelled CSVs → examples, the stratified dev split, and length-bucketed task batches."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from models.tasks import TaskSpec, UnknownLabelError
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
    labels: Sequence[int], *, fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """(train, dev) indices: ``fraction`` of each label goes to dev, drawn with ``seed``."""
    rng = random.Random(seed)
    by_label: dict[int, list[int]] = {}
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
