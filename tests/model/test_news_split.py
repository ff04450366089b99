"""The fixed news development split: stratified by sentiment and source, kept in the repo."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from models import SENTIMENT_LABELS
from models.data import (
    NEWS_DEV_FILE,
    NEWS_DEV_FRACTION,
    load_news_split,
    news_split_rows,
    write_news_dev_file,
)
from models.text import clean_text

EVAL_CSV = NEWS_DEV_FILE.with_name("news_headlines_eval.csv")


def _write_news(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "sentiment", "source"])
        writer.writerows(rows)
    return path


@pytest.fixture
def news_csv(tmp_path: Path) -> Path:
    rows = [
        (f"{source} sentence {i} about {label}", label, source)
        for source, n in (("reuters", 50), ("wsj", 20))
        for label in SENTIMENT_LABELS
        for i in range(n)
    ]
    rows.append(("reuters sentence 0 about positive", "positive", "reuters"))  # a duplicate
    rows.append(("  reuters sentence 1 about positive ", "positive", "reuters"))  # same, cleaned
    return _write_news(tmp_path / "news.csv", rows)


def test_the_split_is_stratified_by_label_and_source(news_csv: Path) -> None:
    train, dev = news_split_rows(news_csv)
    assert sorted(train + dev) == list(range(212))
    with news_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    strata = Counter((rows[i]["sentiment"], rows[i]["source"]) for i in dev)
    # 20% of each stratum: 10 of 50 Reuters sentences, 4 of 20 WSJ headlines per label.
    for label in SENTIMENT_LABELS:
        assert strata[(label, "wsj")] == 4
        assert strata[(label, "reuters")] in (10, 11, 12)  # plus any duplicates that follow
    # Equal texts (after cleaning) are on the same side.
    by_text: dict[str, set[bool]] = {}
    for i, row in enumerate(rows):
        by_text.setdefault(clean_text(row["text"]), set()).add(i in dev)
    assert all(len(sides) == 1 for sides in by_text.values())


def test_the_split_is_the_same_every_time_and_differs_by_seed(news_csv: Path) -> None:
    assert news_split_rows(news_csv) == news_split_rows(news_csv)
    assert news_split_rows(news_csv, seed=1)[1] != news_split_rows(news_csv)[1]


def test_the_dev_file_fixes_the_split(news_csv: Path, tmp_path: Path) -> None:
    dev_file = tmp_path / "dev.csv"
    n = write_news_dev_file(news_csv, dev_file)
    split = load_news_split(news_csv, dev_file=dev_file)
    assert len(split.dev) == n == len(split.dev_rows) == len(split.dev_sources)
    assert list(split.dev_rows) == news_split_rows(news_csv)[1]
    assert set(split.train_rows).isdisjoint(split.dev_rows)
    assert len(split.train) + len(split.dev) == 212
    # A different source file is refused rather than split wrongly.
    other = _write_news(tmp_path / "other.csv", [("x", "neutral", "wsj")] * 212)
    with pytest.raises(ValueError, match="is not the one"):
        load_news_split(other, dev_file=dev_file)


def test_the_shipped_dev_file_is_stratified_and_apart_from_the_eval_set() -> None:
    with NEWS_DEV_FILE.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["row", "text", "sentiment", "source"]
        rows = list(reader)
    assert len(rows) == 257
    assert {r["sentiment"] for r in rows} == set(SENTIMENT_LABELS)
    # 20% of every (label, source) stratum of the 1,290 news rows (shared/data/README.md).
    strata = Counter((r["sentiment"], r["source"]) for r in rows)
    assert strata[("neutral", "finentity")] == round(487 * NEWS_DEV_FRACTION)
    assert strata[("positive", "wsj")] == round(71 * NEWS_DEV_FRACTION)
    assert len({r["row"] for r in rows}) == len(rows)
    with EVAL_CSV.open(newline="", encoding="utf-8") as handle:
        eval_texts = {clean_text(r["text"]) for r in csv.DictReader(handle)}
    assert not eval_texts & {clean_text(r["text"]) for r in rows}
