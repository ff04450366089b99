"""Task specs and hyperparameter configs reject bad values with messages that say why."""

from __future__ import annotations

import pytest

from models.config import ModelConfig, TrainConfig
from models.tasks import DEFAULT_TASKS, SENTIMENT, TOPIC, TaskSpec, UnknownLabelError


def test_default_tasks_match_the_data() -> None:
    assert [t.name for t in DEFAULT_TASKS] == ["topic", "sentiment"]
    assert TOPIC.num_labels == 20
    assert SENTIMENT.labels == ("negative", "neutral", "positive")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Topic", "labels": ("a", "b")}, "lowercase"),
        ({"name": "topic", "labels": ("a",)}, "at least 2 labels"),
        ({"name": "topic", "labels": ("a", "a", "b")}, "duplicate labels: ['a']"),
        ({"name": "topic", "labels": ("a", " ")}, "empty"),
    ],
)
def test_task_spec_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TaskSpec(**kwargs)


def test_task_spec_is_frozen_and_round_trips() -> None:
    spec = TaskSpec("urgency", ["low", "high"])
    assert spec.labels == ("low", "high")
    assert TaskSpec.from_dict(spec.as_dict()) == spec
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


def test_unknown_labels_are_named() -> None:
    with pytest.raises(UnknownLabelError, match=r"\['bullish', 'meh'\]"):
        SENTIMENT.encode(["positive", "bullish", "meh"])
    assert SENTIMENT.encode(["positive", "negative"]) == [2, 0]


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (ModelConfig, {"method": "adapter"}, "method must be one of"),
        (ModelConfig, {"lora_r": 0}, "lora_r must be >= 1"),
        (ModelConfig, {"max_length": 4}, "max_length must be in"),
        (TrainConfig, {"mixing": "random"}, "mixing must be one of"),
        (TrainConfig, {"epochs": 0}, "epochs must be >= 1"),
        (TrainConfig, {"label_smoothing": 1.0}, "label_smoothing"),
        (TrainConfig, {"task_weights": {"topic": -1.0}}, "lambda"),
        (TrainConfig, {"dev_fraction": 0.7}, "dev_fraction"),
        (TrainConfig, {"device": "tpu"}, "device must be one of"),
    ],
)
def test_config_validation(cls: type, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_task_weight_defaults_to_one() -> None:
    config = TrainConfig(task_weights={"sentiment": 2.0})
    assert config.weight_of("sentiment") == 2.0
    assert config.weight_of("topic") == 1.0
