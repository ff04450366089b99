"""`python -m models.compare A B`: paired differences with bootstrap intervals and McNemar's
exact test. The statistics are checked against hand computation and against
`classification_report`; the whole command runs on two tiny trained models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.compare import (
    PairedSet,
    compare_models,
    compare_predictions,
    format_comparison,
    macro_f1_weighted,
    main,
    mcnemar_p,
)
from models.config import ModelConfig, TrainConfig
from models.data import write_news_dev_file
from models.metrics import classification_report
from models.tasks import SENTIMENT, TOPIC
from models.testing import make_tiny_encoder_dir, write_tiny_training_csvs
from models.train import train_model


def test_unweighted_macro_f1_is_the_reports_macro_f1() -> None:
    rng = np.random.default_rng(7)
    labels = [f"c{i}" for i in range(6)]
    for _ in range(20):
        y = rng.integers(0, 5, size=40)  # class 5 never true...
        pred = rng.integers(0, 6, size=40)  # ...but sometimes predicted (F1 0, counted)
        pred[:3] = y[:3]
        ones = np.ones((1, len(y)))
        ours = macro_f1_weighted(ones, y, pred, len(labels))[0]
        expected = classification_report(y.tolist(), pred.tolist(), labels)["macro_f1"]
        assert ours == pytest.approx(expected, abs=1e-12)
    # Weights are repeated rows: drawing text 0 twice is the report of the longer list.
    y, pred = np.array([0, 1, 2, 1]), np.array([0, 2, 2, 1])
    twice = macro_f1_weighted(np.array([[2.0, 1, 1, 1]]), y, pred, 3)[0]
    expected = classification_report([0, 0, 1, 2, 1], [0, 0, 2, 2, 1], ["a", "b", "c"])
    assert twice == pytest.approx(expected["macro_f1"])


def test_mcnemar_exact_p_values() -> None:
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(0, 10) == pytest.approx(2 / 1024)
    assert mcnemar_p(10, 0) == mcnemar_p(0, 10)
    # 2 of 12 discordant pairs one way: 2 * (1 + 12 + 66) / 4096.
    assert mcnemar_p(2, 10) == pytest.approx(2 * 79 / 4096)


def _paired(n: int, flip_to_right: int, seed: int = 0) -> PairedSet:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    a = np.where(rng.random(n) < 0.7, y, (y + 1) % 3)
    b = a.copy()
    wrong = np.flatnonzero(a != y)[:flip_to_right]
    b[wrong] = y[wrong]
    return PairedSet(y, a, b, 3)


def test_identical_predictions_differ_by_exactly_nothing() -> None:
    same = _paired(200, flip_to_right=0)
    result = compare_predictions({"s": same}, ["s"], resamples=300, seed=1)
    figures = result["sets"]["s"]
    for metric in ("accuracy", "macro_f1"):
        assert figures[metric]["diff"] == 0.0 and figures[metric]["ci95"] == [0.0, 0.0]
        assert figures[metric]["b_not_better"] == 1.0
    assert figures["mcnemar_p"] == 1.0 and figures["only_a_right"] == figures["only_b_right"] == 0
    assert result["selection"]["diff"] == 0.0


def test_a_clear_gain_is_outside_the_interval_and_a_small_one_is_not() -> None:
    clear = compare_predictions({"s": _paired(400, 40)}, ["s"], resamples=500, seed=2)
    acc = clear["sets"]["s"]["accuracy"]
    assert acc["diff"] == pytest.approx(40 / 400)
    assert 0 < acc["ci95"][0] < acc["diff"] < acc["ci95"][1]
    assert acc["b_not_better"] == 0.0 and clear["sets"]["s"]["mcnemar_p"] < 1e-9
    small = compare_predictions({"s": _paired(400, 2)}, ["s"], resamples=500, seed=2)
    assert small["sets"]["s"]["accuracy"]["ci95"][0] <= 0 < small["sets"]["s"]["mcnemar_p"]
    assert small["sets"]["s"]["mcnemar_p"] == pytest.approx(0.5)


def test_selection_is_the_mean_of_the_chosen_sets_and_runs_are_repeatable() -> None:
    sets = {"x": _paired(150, 10, seed=3), "y": _paired(90, 0, seed=4), "z": _paired(60, 5)}
    first = compare_predictions(sets, ["x", "y", "missing"], resamples=200, seed=9)
    again = compare_predictions(sets, ["x", "y", "missing"], resamples=200, seed=9)
    assert first == again
    sel = first["selection"]
    assert sel["sets"] == ["x", "y"]
    mean_diff = np.mean([first["sets"][n]["macro_f1"]["diff"] for n in ("x", "y")])
    assert sel["diff"] == pytest.approx(mean_diff)
    assert sel["ci95"][0] <= sel["diff"] <= sel["ci95"][1]
    with pytest.raises(ValueError, match="at least 100"):
        compare_predictions(sets, ["x"], resamples=10)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("compare")
    files = write_tiny_training_csvs(root, news_per_label=12)
    write_news_dev_file(files["news"], root / "news_dev.csv")
    encoder = make_tiny_encoder_dir(root / "encoder")

    def train(name: str, **overrides: object) -> Path:
        tc = TrainConfig(
            epochs=1, max_steps=4, batch_size=8, augment_n=0, progress=False, **overrides
        )
        train_model(
            data_files={TOPIC: files["topic"], SENTIMENT: files["sentiment"]},
            out_dir=root / name,
            model_config=ModelConfig(base_encoder=str(encoder), method="full"),
            train_config=tc,
            news_data=files["news"],
            news_dev_file=root / "news_dev.csv",
        )
        return root / name

    return {
        "root": root,
        "news_dev": root / "news_dev.csv",
        "a": train("a", seed=1),
        "b": train("b", seed=2),
        "other_split": train("other-split", seed=1, split_seed=99),
    }


def test_compare_two_trained_models_on_every_set(runs: dict) -> None:
    from models.checkpoint import load_model_dir
    from models.soup import _scorer, dev_sets, score_sets

    result = compare_models(runs["a"], runs["b"], news_dev_file=runs["news_dev"], resamples=200)
    assert set(result["sets"]) == {
        "topic",
        "sentiment",
        "news_sentiment",
        "news_eval_sentiment",
        "news_eval_topic",
    }
    assert result["sets"]["news_eval_sentiment"]["n"] == 352  # the hand-written set
    assert result["selection"]["sets"] == ["topic", "sentiment", "news_sentiment"]
    # A's and B's figures are those the soup scoring (and training's selection) gives.
    for side in ("a", "b"):
        loaded = load_model_dir(runs[side])
        score, reports, _ = score_sets(
            _scorer(loaded.model, loaded), dev_sets(loaded.card, loaded.tasks, runs["news_dev"])
        )
        assert result["selection"][side] == pytest.approx(score)
        for name, report in reports.items():
            assert result["sets"][name]["accuracy"][side] == pytest.approx(report["accuracy"])
            assert result["sets"][name]["macro_f1"][side] == pytest.approx(report["macro_f1"])
    text = format_comparison(result)
    assert text.splitlines()[0] == f"A {runs['a']} ({result['a']['version']})"
    assert "selection (mean dev macro-F1 of topic, sentiment, news_sentiment)" in text
    # A model against itself: no difference anywhere.
    itself = compare_models(runs["a"], runs["a"], news_dev_file=runs["news_dev"], resamples=100)
    assert all(s["accuracy"]["diff"] == 0 and s["mcnemar_p"] == 1 for s in itself["sets"].values())


def test_compare_refuses_what_it_cannot_compare(
    runs: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="another topic dev split"):
        compare_models(runs["a"], runs["other_split"], news_dev_file=runs["news_dev"])
    assert main([str(runs["a"]), str(runs["root"] / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    args = [str(runs["a"]), str(runs["b"]), "--news-dev", str(runs["news_dev"])]
    assert main([*args, "--resamples", "100", "--json"]) == 0
    assert '"selection"' in capsys.readouterr().out
