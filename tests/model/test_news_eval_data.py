"""Checks on the hand-written news eval set (models/data/news_headlines_eval.csv)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

import models.augment as augment
from models._augment_vocab import NAME_HEADS

EVAL_CSV = Path(augment.__file__).with_name("data") / "news_headlines_eval.csv"

# The 20 topic names of the twitter-financial-news-topic data set (shared/data/README.md).
TOPICS = {
    "Analyst Update", "Fed | Central Banks", "Company | Product News",
    "Treasuries | Corporate Debt", "Dividend", "Earnings", "Energy | Oil", "Financials",
    "Currencies", "General News | Opinion", "Gold | Metals | Materials", "IPO",
    "Legal | Regulation", "M&A | Investments", "Macro", "Markets", "Politics",
    "Personnel Change", "Stock Commentary", "Stock Movement",
}  # fmt: skip


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with EVAL_CSV.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["text", "topic", "sentiment"]
        return list(reader)


def test_parses_with_valid_labels(rows: list[dict[str, str]]) -> None:
    assert len(rows) >= 300
    assert all(r["text"].strip() == r["text"] and r["text"] for r in rows)
    assert {r["sentiment"] for r in rows} == {"negative", "neutral", "positive"}
    assert {r["topic"] for r in rows} <= TOPICS


def test_every_topic_has_at_least_five_rows(rows: list[dict[str, str]]) -> None:
    counts = Counter(r["topic"] for r in rows)
    assert set(counts) == TOPICS
    assert min(counts.values()) >= 5, counts


def test_no_duplicate_texts(rows: list[dict[str, str]]) -> None:
    texts = [r["text"] for r in rows]
    assert len(set(texts)) == len(texts)


def test_sentiment_mix_is_not_degenerate(rows: list[dict[str, str]]) -> None:
    counts = Counter(r["sentiment"] for r in rows)
    assert all(0.2 <= c / len(rows) <= 0.5 for c in counts.values()), counts


def test_independent_of_the_augmentation_grammar(rows: list[dict[str, str]]) -> None:
    # The eval set measures the news shift; a template sentence inside it would measure recall.
    eval_texts = {r["text"] for r in rows}
    for seed in range(3):
        generated = {t for t, _ in augment.news_style_examples(seed=seed, n=20000)}
        assert not eval_texts & generated, (seed, eval_texts & generated)
    lowered = " ".join(eval_texts).lower()
    assert not [h for h in NAME_HEADS if h.lower() in lowered]
