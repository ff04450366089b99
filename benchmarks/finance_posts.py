"""A fixed sample of short finance posts for the scoring benchmarks.

The ``text`` column of both Twitter Financial News training files (topic and
sentiment), pooled, de-duplicated and sampled with a fixed seed, so every
benchmark and every run reads the same posts.
"""

from __future__ import annotations

import csv
import os
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Where the labelled data lies: $FINSENT_BENCH_DATA, ../shared/data (the development
# machines) or shared/data inside the checkout.
DATA_DIRS = [Path(p) for p in (os.environ.get("FINSENT_BENCH_DATA"),) if p] + [
    REPO.parent / "shared" / "data",
    REPO / "shared" / "data",
]
SOURCES = ("twitter-financial-news-topic", "twitter-financial-news-sentiment")


def _data_dir() -> Path | None:
    for path in DATA_DIRS:
        if (path / SOURCES[0] / "train.csv").is_file():
            return path
    return None


def _synthetic_posts() -> list[str]:
    """Short headline-like posts, for machines without the data (GPU hosts): the
    speed depends on length, and these have the posts' typical 20-40 tokens."""
    rng = random.Random(0)
    firms = ["Acme", "Globex", "Initech", "Umbrella", "Stark Industries", "Wayne Enterprises"]
    events = [
        "beats third-quarter estimates as margins widen",
        "cuts full-year outlook on weak demand in Europe",
        "shares slide after regulator opens antitrust probe",
        "agrees to buy rival in $4.2 billion all-cash deal",
        "raises quarterly dividend by 8% and expands buyback",
        "names former CFO as chief executive, effective immediately",
    ]
    extras = ["", " - analysts", " amid rate worries", ", sources say", " ahead of Fed decision"]
    return sorted(
        {f"{rng.choice(firms)} {rng.choice(events)}{rng.choice(extras)} #{i}" for i in range(5000)}
    )


def finance_posts(n: int = 4000, *, seed: int = 0, data_dir: Path | None = None) -> list[str]:
    """``n`` distinct posts (one line each), always the same for the same ``n`` and ``seed``.

    Asking for more posts than exist repeats the sample (for GPU-sized runs).
    """
    pool: dict[str, None] = {}
    data_dir = data_dir or _data_dir()
    if data_dir is None:
        print("finance_posts: no data found, using synthetic headlines", file=sys.stderr)
        pool = dict.fromkeys(_synthetic_posts())
    for source in SOURCES if data_dir is not None else ():
        with open(data_dir / source / "train.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                pool[" ".join(row["text"].split())] = None
    texts = sorted(text for text in pool if text)
    sample = random.Random(seed).sample(texts, min(n, len(texts)))
    return (sample * (n // len(sample) + 1))[:n]


def write_lines(texts: list[str], path: Path) -> Path:
    """One text per line (texts are whitespace-normalised, so none holds a newline)."""
    path.write_text("".join(text + "\n" for text in texts), encoding="utf-8")
    return path
