"""Behavioural tests of the shipped checkpoint (marker `slow`): invariance, direction,
minimum functionality. Sentences are hand-written, not taken from any training file."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

COMPANIES = ["Apple", "Siemens", "Toyota", "Nordea", "Acme Corp", "JPMorgan"]
TICKERS = ["AAPL", "SIE", "TM", "NDA", "ACME", "JPM"]
TEMPLATES = [
    "{c} issues profit warning as demand slumps",
    "{c} beats quarterly estimates and raises full-year guidance",
    "{c} to cut 2,000 jobs after sales decline",
    "{c} shares jump after record quarterly revenue",
    "{c} appoints new chief financial officer",
    "{c} declares quarterly dividend of $0.25 per share",
    "{c} faces SEC probe over accounting practices",
    "{c} completes acquisition of rival for $2 billion",
    "{c} net sales rose 12% to EUR 40 million",
    "{c} operating loss widened to EUR 5 million",
    "{c} misses revenue forecasts, shares tumble",
    "{c} to hold annual general meeting on May 5",
]


def test_swapping_company_names_rarely_changes_labels(shipped_scorer) -> None:
    total = unchanged_sent = unchanged_topic = 0
    for template in TEMPLATES:
        texts = [template.format(c=c) for c in COMPANIES]
        texts += [template.format(c=f"${t}") for t in TICKERS]
        preds = shipped_scorer.predict(texts)
        ref = preds[0]
        for p in preds[1:]:
            total += 1
            unchanged_sent += p.sentiment == ref.sentiment
            unchanged_topic += p.topic == ref.topic
    assert unchanged_sent / total >= 0.9, unchanged_sent / total
    assert unchanged_topic / total >= 0.8, unchanged_topic / total


PAIRS = [
    ("Acme beats estimates, raises guidance", "Acme misses estimates, cuts guidance"),
    (
        "Profit at Nordea rose 20% in the third quarter",
        "Profit at Nordea fell 20% in the third quarter",
    ),
    ("Siemens shares surge after strong orders", "Siemens shares plunge after weak orders"),
    ("Analyst upgrades Tesla to buy", "Analyst downgrades Tesla to sell"),
    ("Toyota raises dividend", "Toyota slashes dividend"),
    ("Retailer's quarterly sales grew 15%", "Retailer's quarterly sales dropped 15%"),
    ("Bank reports record profit", "Bank reports record loss"),
    ("Oil major's output increases, costs fall", "Oil major's output decreases, costs rise"),
]


@pytest.mark.parametrize(("better", "worse"), PAIRS)
def test_direction(shipped_scorer, better: str, worse: str) -> None:
    good, bad = shipped_scorer.predict([better, worse])
    assert good.sentiment_score > bad.sentiment_score + 0.2, (good, bad)


OBVIOUS = [
    ("Acme issues profit warning, shares plunge", "negative"),
    ("Globex files for bankruptcy protection", "negative"),
    ("Initech to lay off 10% of workforce amid falling sales", "negative"),
    ("Umbrella Corp swings to quarterly loss, cuts outlook", "negative"),
    ("Hooli shares tumble 20% after guidance cut", "negative"),
    ("Regulator fines bank $2 billion over money laundering failures", "negative"),
    ("Stark Industries beats earnings estimates and raises guidance", "positive"),
    ("Wayne Enterprises net profit jumps 35% to record high", "positive"),
    ("Soylent shares soar after blowout quarterly results", "positive"),
    ("Cyberdyne wins $1 billion government contract", "positive"),
    ("Operating profit rose to EUR 13.1 mn from EUR 8.7 mn", "positive"),
    ("Vandelay Industries upgraded to buy at Morgan Stanley", "positive"),
    ("Oscorp to report second-quarter results on July 28", "neutral"),
    ("Massive Dynamic to hold annual general meeting in Helsinki", "neutral"),
    ("The company's headquarters are located in Espoo, Finland", "neutral"),
    ("Tyrell Corp names new head of investor relations", "neutral"),
]


def test_minimum_functionality_sentiment(shipped_scorer) -> None:
    texts = [t for t, _ in OBVIOUS]
    preds = shipped_scorer.predict(texts)
    wrong = [
        (t, p.sentiment, want)
        for (t, want), p in zip(OBVIOUS, preds, strict=True)
        if p.sentiment != want
    ]
    assert len(wrong) <= 2, wrong


TOPICS = [
    ("Fed raises interest rates by a quarter point", "Fed | Central Banks"),
    ("Oil prices climb as OPEC extends output cuts", "Energy | Oil"),
    ("Acme declares quarterly dividend of 25 cents", "Dividend"),
    ("Globex prices IPO at $18 a share", "IPO"),
    ("Gold hits record high as dollar weakens", "Gold | Metals | Materials"),
    ("Microsoft agrees to buy gaming company for $2 billion", "M&A | Investments"),
    ("Acme names new chief executive officer", "Personnel Change"),
    ("Euro slides against the dollar", "Currencies"),
]


def test_minimum_functionality_topic(shipped_scorer) -> None:
    preds = shipped_scorer.predict([t for t, _ in TOPICS])
    wrong = [
        (t, p.topic, want) for (t, want), p in zip(TOPICS, preds, strict=True) if p.topic != want
    ]
    assert len(wrong) <= 2, wrong
