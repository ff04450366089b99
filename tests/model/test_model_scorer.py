"""Scorer on the tiny model: contract shapes, order, odd inputs, quantisation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from models import Prediction, Scorer
from models.tasks import SENTIMENT_LABELS, TOPIC_LABELS

ODD = [
    "",
    "   ",
    "x" * 100_000,
    "word " * 5000,
    "📈🚀🔥 to the moon 💎🙌",
    "Der DAX steigt auf Rekordhoch",
    "日経平均株価が上昇",
    "<div class='x'>Shares &amp; bonds &#8212; fall</div>",
    "\u200b\u202e\x00 control chars",
    "https://t.co/abc",
]


def check(p: Prediction) -> None:
    assert p.topic in TOPIC_LABELS
    assert set(p.topic_probabilities) == set(TOPIC_LABELS)
    assert math.isclose(sum(p.topic_probabilities.values()), 1.0, rel_tol=1e-4)
    assert p.topic_probability == max(p.topic_probabilities.values())
    assert p.sentiment in SENTIMENT_LABELS
    assert list(p.sentiment_probabilities) == list(SENTIMENT_LABELS)
    assert math.isclose(sum(p.sentiment_probabilities.values()), 1.0, rel_tol=1e-4)
    probs = p.sentiment_probabilities
    assert p.sentiment_score == pytest.approx(probs["positive"] - probs["negative"])
    assert -1.0 <= p.sentiment_score <= 1.0


def test_contract_attributes(tiny_scorer: Scorer) -> None:
    assert tiny_scorer.version.startswith("finsent-")
    assert tiny_scorer.max_length == 128
    assert tiny_scorer.device.type == "cpu"
    assert tiny_scorer.tokenizer("hello")["input_ids"]


def test_odd_inputs_give_valid_predictions(tiny_scorer: Scorer) -> None:
    predictions = tiny_scorer.predict(ODD, batch_size=3)
    assert len(predictions) == len(ODD)
    for p in predictions:
        check(p)
        assert set(p.as_dict()) == {
            "topic",
            "topic_probability",
            "topic_probabilities",
            "sentiment",
            "sentiment_probabilities",
            "sentiment_score",
        }


def test_order_and_batching_do_not_change_results(tiny_scorer: Scorer) -> None:
    texts = [f"Company {i} {'reports results ' * (i % 7)}" for i in range(23)]
    one = [p.as_dict() for p in tiny_scorer.predict(texts, batch_size=64)]
    small = [p.as_dict() for p in tiny_scorer.predict(texts, batch_size=4)]
    single = [tiny_scorer.predict([t])[0].as_dict() for t in texts]
    for a, b, c in zip(one, small, single, strict=True):
        assert a["topic"] == b["topic"] == c["topic"]
        assert a["sentiment_score"] == pytest.approx(b["sentiment_score"], abs=1e-5)
        assert a["sentiment_score"] == pytest.approx(c["sentiment_score"], abs=1e-5)


def test_empty_list_and_bad_arguments(tiny_scorer: Scorer) -> None:
    assert tiny_scorer.predict([]) == []
    with pytest.raises(TypeError):
        tiny_scorer.predict("one string")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        tiny_scorer.predict(["x"], batch_size=0)


def test_int8_is_the_cpu_default_and_close(tiny_model_dir: Path, tiny_scorer: Scorer) -> None:
    int8 = Scorer.from_pretrained(tiny_model_dir, device="cpu")
    assert int8.quantize == "int8"
    texts = ["Acme raises guidance", "Fed cuts rates", "Oil falls"]
    for a, b in zip(int8.predict(texts), tiny_scorer.predict(texts), strict=True):
        check(a)
        assert a.sentiment_score == pytest.approx(b.sentiment_score, abs=0.05)


def test_bad_options_are_clear(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quantize must be one of"):
        Scorer.from_pretrained(tiny_model_dir, quantize="int4")
    with pytest.raises(FileNotFoundError, match="not a finsent model directory"):
        Scorer.from_pretrained(tmp_path)
