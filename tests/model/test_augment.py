"""Unit tests for the news-style template grammar in models.augment."""

from __future__ import annotations

import re
import sys
from collections import Counter

import pytest

from models import SENTIMENT_LABELS
from models.augment import CLASS_WEIGHTS, main, news_style_examples

SENTIMENTS = set(SENTIMENT_LABELS)


@pytest.fixture(scope="module")
def sample() -> list[tuple[str, str]]:
    return news_style_examples(seed=1, n=5000)


def test_deterministic_for_a_seed() -> None:
    assert news_style_examples(seed=7, n=300) == news_style_examples(seed=7, n=300)
    assert news_style_examples(seed=7, n=300) != news_style_examples(seed=8, n=300)


def test_returns_n_pairs_with_valid_labels(sample: list[tuple[str, str]]) -> None:
    assert len(sample) == 5000
    assert all(isinstance(t, str) and t.strip() for t, _ in sample)
    assert {s for _, s in sample} == SENTIMENTS


def test_edge_sizes() -> None:
    assert news_style_examples(seed=0, n=0) == []
    with pytest.raises(ValueError, match="n must be"):
        news_style_examples(seed=0, n=-1)


def test_almost_no_duplicates(sample: list[tuple[str, str]]) -> None:
    texts = [t for t, _ in sample]
    assert len(set(texts)) >= 0.99 * len(texts)


def test_class_mix_follows_weights(sample: list[tuple[str, str]]) -> None:
    counts = Counter(s for _, s in sample)
    for label, weight in CLASS_WEIGHTS.items():
        assert abs(counts[label] / len(sample) - weight) < 0.04, counts


def _labels_matching(sample: list[tuple[str, str]], pattern: str) -> Counter[str]:
    rx = re.compile(pattern, re.IGNORECASE)
    return Counter(s for t, s in sample if rx.search(t))


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # A narrower loss is good news, a wider one bad.
        (r"loss (narrowed|narrows|had narrowed)\b", "positive"),
        (r"loss (widened|widens|had widened)\b", "negative"),
        # Falling costs or debt are good news, rising ones bad.
        (
            r"(net debt|costs|expenses) (fell|decreased|declined|dropped|slumped|shrank)\b",
            "positive",
        ),
        (r"(net debt|costs|expenses) (rose|increased|grew|climbed|jumped|surged)\b", "negative"),
        (
            r"\b(net sales|revenue|operating profit) (rose|increased|grew|climbed|jumped)\b",
            "positive",
        ),
        (r"\b(net sales|revenue|operating profit) (fell|decreased|declined|dropped)\b", "negative"),
        (r"net loss (rose|increased|jumped)\b", "negative"),
        (r"profit warning", "negative"),
        (r"upgrades .* to buy", "positive"),
        (r"will publish its interim report", "neutral"),
        (r"appoints .* as chief financial officer", "neutral"),
    ],
)
def test_direction_semantics(sample: list[tuple[str, str]], pattern: str, expected: str) -> None:
    labels = _labels_matching(sample, pattern)
    assert labels, f"grammar never produced {pattern!r}"
    assert set(labels) == {expected}, labels


def test_mixes_headline_and_formal_style(sample: list[tuple[str, str]]) -> None:
    texts = [t for t, _ in sample]
    headlines = sum(not t.endswith(".") for t in texts)
    assert 0.2 < headlines / len(texts) < 0.6
    assert any(t.endswith("the company said.") for t in texts)
    assert any("according to" in t.lower() for t in texts)


def test_cli_prints_requested_count(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--n", "20", "--seed", "0"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 20
    assert all(line.split("\t")[0].strip() in SENTIMENTS for line in lines)


def test_uses_only_the_standard_library() -> None:
    # The grammar must run anywhere the data prep runs: no pipeline, no torch, no third party.
    import ast
    from pathlib import Path

    import models.augment as augment

    for path in (Path(augment.__file__), Path(augment.__file__).with_name("_augment_vocab.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            for root in roots:
                assert root == "models" or root in sys.stdlib_module_names, (path, root)
