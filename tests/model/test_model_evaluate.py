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


def test_calibration_before_and_after_the_models_temperature(
    tiny_scorer: Scorer, tmp_path: Path
) -> None:
    import numpy as np

    from models.metrics import expected_calibration_error, softmax

    rows = [("Shares jump", "positive"), ("Shares sink", "negative"), ("Fed meets", "neutral")]
    csv = write(tmp_path / "c.csv", "text,sentiment\n" + "".join(f"{t},{s}\n" for t, s in rows))
    calibration = evaluate_csv(tiny_scorer, csv)["sentiment"]["calibration"]
    logits = tiny_scorer.predict_logits([t for t, _ in rows])["sentiment"]
    y = [0 if s == "negative" else 1 if s == "neutral" else 2 for _, s in rows]
    temperature = tiny_scorer.temperatures["sentiment"]
    assert calibration["temperature"] == pytest.approx(temperature, abs=1e-4)
    assert calibration["ece_before"] == pytest.approx(
        expected_calibration_error(softmax(logits), y), abs=1e-4
    )
    assert calibration["ece_after"] == pytest.approx(
        expected_calibration_error(softmax(logits / temperature), y), abs=1e-4
    )
    assert np.isfinite(calibration["ece_after"])


def test_by_column_reports_each_group_and_the_groups_add_up(
    tiny_scorer: Scorer, tmp_path: Path
) -> None:
    csv = write(
        tmp_path / "g.csv",
        "text,topic,sentiment,source\n"
        "Acme beats,Earnings,positive,wsj\n"
        "Fed holds,Fed | Central Banks,neutral,reuters\n"
        "Oil falls,Energy | Oil,negative,reuters\n"
        "Gold up,,positive,\n",
    )
    result = evaluate_csv(tiny_scorer, csv, by="source")
    assert result["by"] == "source"
    assert list(result["groups"]) == ["(blank)", "reuters", "wsj"]
    assert result["overall"] == evaluate_csv(tiny_scorer, csv)
    for task in ("topic", "sentiment"):
        groups = [g[task] for g in result["groups"].values() if task in g]
        assert sum(g["n"] for g in groups) == result["overall"][task]["n"]
        correct = sum(round(g["accuracy"] * g["n"]) for g in groups)
        assert correct == round(result["overall"][task]["accuracy"] * result["overall"][task]["n"])
    # A group with no label for a task has no report for it (the blank row has no topic).
    assert set(result["groups"]["(blank)"]) == {"sentiment"}
    matrix = result["groups"]["reuters"]["sentiment"]["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == 2


def test_an_unknown_by_column_names_the_columns(tiny_scorer: Scorer, tmp_path: Path) -> None:
    csv = write(tmp_path / "n.csv", "text,sentiment\nA,positive\n")
    with pytest.raises(
        ValueError, match=r"no column 'source' to group by \(columns: \['sentiment'\]\)"
    ):
        evaluate_csv(tiny_scorer, csv, by="source")
