"""The nearest-neighbour probe's arithmetic (``models.knn_probe``), on vectors made by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.knn_probe import GRID, knn_probabilities, probe


def test_the_vote_goes_to_the_nearest_texts_label() -> None:
    memory = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = np.array([0, 0, 1, 1])
    votes = knn_probabilities(np.array([[1.0, 0.05], [0.05, 1.0]]), memory, labels, 3, 2, 0.1)
    assert votes.argmax(1).tolist() == [0, 1]
    assert np.allclose(votes.sum(1), 1.0)
    assert np.allclose(votes[:, 2], 0.0)  # no neighbour has label 2


def test_probe_reports_the_head_and_a_mix_that_fixes_it() -> None:
    labels = np.array([0, 1] * 10)
    head = np.tile([[0.6, 0.4]], (20, 1))  # always 0: right half the time
    right = np.eye(2)[labels]
    report = probe(head, {(k, tau): right for k, tau, _ in GRID}, labels)
    assert report["head"] == 0.5
    # λ ≥ 0.2 of a vote that is always right turns every wrong head answer (0.6 vs 0.4).
    assert report["best_cell_accuracy"] == report["cross_fitted_accuracy"] == 1.0


def test_head_inputs_are_the_pooled_vectors_in_input_order(tmp_path: Path) -> None:
    import torch

    from models import Scorer
    from models.knn_probe import head_inputs
    from models.testing import make_tiny_model_dir

    scorer = Scorer.from_pretrained(make_tiny_model_dir(tmp_path / "m"), quantize="none")
    texts = ["a much longer text about the bank and its outlook for the year", "short", "mid text"]
    vectors, logits = head_inputs(scorer, texts)
    for i, text in enumerate(texts):
        ids = torch.tensor([scorer._tokenize([text], clean=False)[0]])
        with torch.no_grad():
            alone = scorer.model.encode(ids, torch.ones_like(ids))[0].numpy()
        assert np.allclose(vectors["topic"][i], alone, atol=1e-5)
        assert np.allclose(vectors["sentiment"][i], alone, atol=1e-5)
    assert np.allclose(logits["topic"], scorer.predict_logits(texts, clean=False)["topic"])
