"""Classification metrics and calibration (numpy only, no scikit-learn dependency)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> np.ndarray:
    """(n_labels, n_labels) counts; rows are true labels, columns predictions."""
    matrix = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return matrix


def classification_report(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]
) -> dict:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support and the confusion
    matrix. Classes with no support and no predictions are left out of the macro average
    (they have no defined F1); a class that is predicted but absent counts as F1 0."""
    n = len(y_true)
    matrix = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    active = (support > 0) | (predicted > 0)
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1[active].mean()) if active.any() else 0.0,
        "weighted_f1": float((f1 * support).sum() / support.sum()) if support.sum() else 0.0,
        "per_class": per_class,
        "confusion": {"labels": list(labels), "matrix": matrix.tolist()},
    }


def expected_calibration_error(probs: np.ndarray, y_true: Sequence[int], n_bins: int = 15) -> float:
    """ECE of the top-class confidence: Σ_b |acc_b − conf_b| · n_b / n over equal-width bins."""
    y = np.asarray(y_true, dtype=int)
    if len(y) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(float)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += abs(correct[in_bin].mean() - confidence[in_bin].mean()) * in_bin.mean()
    return float(ece)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def fit_temperature(logits: np.ndarray, y_true: Sequence[int]) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) (LBFGS on log T)."""
    import torch

    x = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y_true, dtype=np.int64))
    if len(y) == 0:
        return 1.0
    log_t = torch.zeros(1, requires_grad=True)  # T = exp(log_t) stays positive
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(min(max(log_t.exp().item(), 0.05), 20.0))
