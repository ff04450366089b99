"""The joint loss on a tiny random encoder: shapes, masking, no NaN for absent tasks."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import BertConfig, BertModel

from models.network import MultiTaskModel, joint_loss, mean_pool
from models.tasks import DEFAULT_TASKS, MISSING_LABEL, TaskSpec


def tiny_model(tasks=DEFAULT_TASKS) -> MultiTaskModel:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    return MultiTaskModel(BertModel(config, add_pooling_layer=False), tasks)


def batch(n: int = 4, width: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(5, 100, (n, width))
    mask = torch.ones_like(ids)
    mask[0, 3:] = 0
    return ids, mask


def test_one_forward_gives_every_head() -> None:
    model = tiny_model()
    logits = model(*batch())
    assert {k: tuple(v.shape) for k, v in logits.items()} == {"topic": (4, 20), "sentiment": (4, 3)}


def test_a_third_task_is_a_spec() -> None:
    urgency = TaskSpec("urgency", ("low", "high"))
    model = tiny_model((*DEFAULT_TASKS, urgency))
    logits = model(*batch())
    assert logits["urgency"].shape == (4, 2)
    labels = torch.tensor([[1, -100, 0], [-100, 2, -100], [-100, -100, 1], [3, 0, -100]])
    total, per_task = joint_loss(logits, labels, model.tasks)
    assert set(per_task) == {"topic", "sentiment", "urgency"}
    assert torch.isfinite(total)


def test_mean_pool_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert mean_pool(hidden, mask).item() == pytest.approx(2.0)


def test_loss_covers_only_labelled_examples() -> None:
    model = tiny_model()
    logits = model(*batch())
    labels = torch.tensor(
        [[3, MISSING_LABEL], [5, MISSING_LABEL], [MISSING_LABEL, 2], [MISSING_LABEL, MISSING_LABEL]]
    )
    total, per_task = joint_loss(logits, labels, model.tasks, task_weights={"sentiment": 2.0})
    expected_topic = torch.nn.functional.cross_entropy(logits["topic"][:2], torch.tensor([3, 5]))
    expected_sent = torch.nn.functional.cross_entropy(logits["sentiment"][2:3], torch.tensor([2]))
    assert per_task["topic"].item() == pytest.approx(expected_topic.item(), rel=1e-5)
    assert per_task["sentiment"].item() == pytest.approx(expected_sent.item(), rel=1e-5)
    assert total.item() == pytest.approx(expected_topic.item() + 2 * expected_sent.item(), rel=1e-5)


def test_task_absent_from_batch_contributes_zero_not_nan() -> None:
    model = tiny_model()
    logits = model(*batch())
    labels = torch.tensor([[1, MISSING_LABEL]] * 4)
    total, per_task = joint_loss(logits, labels, model.tasks)
    assert per_task["sentiment"].item() == 0.0
    assert math.isfinite(total.item())
    total.backward()
    # The absent task's head gets no gradient signal (zero, never NaN).
    grad = model.heads["sentiment"].weight.grad
    assert grad is None or torch.count_nonzero(grad) == 0
    assert torch.isfinite(model.heads["topic"].weight.grad).all()


def test_all_missing_gives_zero_loss() -> None:
    model = tiny_model()
    logits = model(*batch())
    labels = torch.full((4, 2), MISSING_LABEL)
    total, _ = joint_loss(logits, labels, model.tasks, label_smoothing=0.1)
    assert total.item() == 0.0


def test_labels_shape_is_checked() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match=r"labels must be \(batch, 2\)"):
        joint_loss(model(*batch()), torch.zeros(4, dtype=torch.long), model.tasks)
