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
