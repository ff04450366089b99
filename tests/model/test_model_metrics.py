"""Metrics against hand computation; calibration helpers."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics import (
    classification_report,
    expected_calibration_error,
    fit_temperature,
    softmax,
)


def test_report_matches_hand_computation() -> None:
    # true:  a a a b b c ; pred: a a b b c c
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    r = classification_report(y_true, y_pred, ["a", "b", "c"])
    assert r["n"] == 6
    assert r["accuracy"] == pytest.approx(4 / 6)
    # a: P=2/2 R=2/3 F1=0.8 ; b: P=1/2 R=1/2 F1=0.5 ; c: P=1/2 R=1 F1=2/3
    assert r["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    )
    assert r["per_class"]["b"]["f1"] == pytest.approx(0.5)
    assert r["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["weighted_f1"] == pytest.approx((0.8 * 3 + 0.5 * 2 + 2 / 3) / 6)
    assert r["confusion"]["matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_absent_unpredicted_class_is_left_out_of_macro_f1() -> None:
    r = classification_report([0, 1], [0, 1], ["a", "b", "c"])
    assert r["macro_f1"] == pytest.approx(1.0)
    assert r["per_class"]["c"]["support"] == 0


def test_temperature_fixes_overconfidence() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    clean = np.eye(3)[y] * 1.0 + rng.normal(0, 1.0, (2000, 3))
    overconfident = clean * 8  # same argmax, far too sharp
    temp = fit_temperature(overconfident, y)
    assert temp > 2
    before = expected_calibration_error(softmax(overconfident), y)
    after = expected_calibration_error(softmax(overconfident / temp), y)
    assert after < before / 2
