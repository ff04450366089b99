"""evaluate_csv: only the tasks a file has; unknown labels named; metrics consistent."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import Scorer
from models.evaluate import evaluate_csv
from models.tasks import UnknownLabelError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_only_tasks_present(tiny_scorer: Scorer, tmp_path: Path) -> None:
    csv = write(tmp_path / "s.csv", "text,sentiment\nShares jump,positive\nShares sink,negative\n")
    reports = evaluate_csv(tiny_scorer, csv)
    assert list(reports) == ["sentiment"]
    r = reports["sentiment"]
    assert r["n"] == 2
    assert sum(map(sum, r["confusion"]["matrix"])) == 2
    preds = [p.sentiment for p in tiny_scorer.predict(["Shares jump", "Shares sink"])]
    assert r["accuracy"] == pytest.approx(
        sum(p == t for p, t in zip(preds, ["positive", "negative"], strict=True)) / 2
    )


def test_blank_cells_skip_that_task(tiny_scorer: Scorer, tmp_path: Path) -> None:
    csv = write(
        tmp_path / "b.csv",
        "text,topic,sentiment\nA,Earnings,\nB,,neutral\nC,Macro,positive\n",
    )
    reports = evaluate_csv(tiny_scorer, csv)
    assert reports["topic"]["n"] == 2
    assert reports["sentiment"]["n"] == 2


def test_unknown_labels_are_named(tiny_scorer: Scorer, tmp_path: Path) -> None:
    csv = write(tmp_path / "u.csv", "text,sentiment\nA,bullish\nB,positive\nC,Bearish\n")
    with pytest.raises(UnknownLabelError, match=r"\['Bearish', 'bullish'\]"):
        evaluate_csv(tiny_scorer, csv)
    assert issubclass(UnknownLabelError, ValueError)


def test_no_task_column_is_an_error(tiny_scorer: Scorer, tmp_path: Path) -> None:
    csv = write(tmp_path / "n.csv", "text,label\nA,x\n")
    with pytest.raises(ValueError, match="no column for any model task"):
        evaluate_csv(tiny_scorer, csv)
