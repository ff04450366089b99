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


def test_fp32_is_the_cpu_default_and_int8_is_close(
    tiny_model_dir: Path, tiny_scorer: Scorer
) -> None:
    from models.scorer import CPU_DEFAULT_QUANTIZE

    # The measured decision (BENCHMARKS.md, "The CPU default"): fp32 unless asked.
    assert CPU_DEFAULT_QUANTIZE == "none"
    assert Scorer.from_pretrained(tiny_model_dir, device="cpu").quantize == "none"
    int8 = Scorer.from_pretrained(tiny_model_dir, device="cpu", quantize="int8")
    assert int8.quantize == "int8"
    assert int8.version == tiny_scorer.version  # the same checkpoint, the same version
    texts = ["Acme raises guidance", "Fed cuts rates", "Oil falls"]
    for a, b in zip(int8.predict(texts), tiny_scorer.predict(texts), strict=True):
        check(a)
        assert a.sentiment_score == pytest.approx(b.sentiment_score, abs=0.05)


def test_bad_options_are_clear(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quantize must be one of"):
        Scorer.from_pretrained(tiny_model_dir, quantize="int4")
    with pytest.raises(FileNotFoundError, match="not a finsent model directory"):
        Scorer.from_pretrained(tmp_path)


def test_predict_cleans_unless_told_the_texts_are_clean(tiny_scorer: Scorer) -> None:
    from models import clean_text

    raw = ["$ACME &amp; Co <b>beat</b> https://t.co/x", "  Fed   holds  "]
    cleaned = [clean_text(t) for t in raw]
    a = tiny_scorer.predict_logits(raw)
    b = tiny_scorer.predict_logits(cleaned, clean=False)
    for task in a:
        assert a[task].tolist() == b[task].tolist()
    # clean=False really skips cleaning: the raw markup changes what the model reads.
    c = tiny_scorer.predict_logits(raw, clean=False)
    assert c["sentiment"][0].tolist() != a["sentiment"][0].tolist()


def test_fit_to_length_defaults_to_the_models_budget(tiny_scorer: Scorer) -> None:
    (long,) = tiny_scorer.fit_to_length(["word " * 1000])
    assert len(tiny_scorer.tokenizer(long)["input_ids"]) == tiny_scorer.max_length
    (short,) = tiny_scorer.fit_to_length(["word " * 1000], max_length=10)
    assert short == " ".join(["word"] * 8)
    # What was fitted is exactly what predict reads: same logits as the full text.
    full = tiny_scorer.predict_logits(["word " * 1000], clean=False)
    fitted = tiny_scorer.predict_logits([long], clean=False)
    assert full["topic"].tolist() == fitted["topic"].tolist()
    with pytest.raises(ValueError, match="max_length"):
        tiny_scorer.fit_to_length(["x"], max_length=0)


def test_probabilities_are_the_temperature_scaled_softmax(tiny_scorer: Scorer) -> None:
    import numpy as np

    from models.metrics import softmax

    texts = ["Acme beats", "Oil falls"]
    logits = tiny_scorer.predict_logits(texts)
    probs = tiny_scorer.predict_proba(texts)
    for task, value in logits.items():
        expected = softmax(value / tiny_scorer.temperatures[task])
        np.testing.assert_allclose(probs[task], expected, rtol=1e-6)
