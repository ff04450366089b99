"""How an article's title and summary become the text the model reads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.scoring import article_text, article_texts

# Session-scoped real fixtures (the tiny Scorer and its tokenizer) inside property tests.
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def n_tokens(tokenizer: Any, text: str) -> int:
    """Tokens the model sees for ``text``, special tokens included."""
    return len(tokenizer(text)["input_ids"])


@pytest.mark.parametrize(
    ("title", "summary", "expected"),
    [
        ("Acme beats estimates", "Shares rose 5%.", "Acme beats estimates. Shares rose 5%."),
        ("Why did Acme fall?", "Guidance was cut.", "Why did Acme fall? Guidance was cut."),
        ("Acme beats estimates", "", "Acme beats estimates"),
        ("", "Guidance was cut.", "Guidance was cut."),
        ("", "", ""),
        ("  Acme\n\tbeats  ", " \n ", "Acme beats"),
    ],
)
def test_title_and_summary_join_one_documented_way(
    tiny_scorer: Any, title: str, summary: str, expected: str
) -> None:
    assert article_text(title, summary, scorer=tiny_scorer) == expected


def test_html_remnants_links_and_cashtags_are_cleaned_like_model_input(tiny_scorer: Any) -> None:
    text = article_text(
        "$ACME &amp; Co <b>beat</b> estimates",
        "<p>Shares rose&nbsp;5%</p> https://t.co/abc123 &amp;amp; more",
        scorer=tiny_scorer,
    )
    assert text == "ACME & Co beat estimates. Shares rose 5% & more"


def test_the_default_budget_is_the_models_own(tiny_scorer: Any, tokenizer: Any) -> None:
    text = article_text("Acme", "word " * 1000, scorer=tiny_scorer)
    assert n_tokens(tokenizer, text) == tiny_scorer.max_length


def test_long_summary_is_cut_to_the_token_budget_and_the_title_kept_whole(
    tiny_scorer: Any, tokenizer: Any
) -> None:
    title = "Acme cuts its full-year outlook as demand weakens"
    summary = "Analysts had expected a stronger second half for the group. " * 200
    text = article_text(title, summary, scorer=tiny_scorer, max_length=64)
    assert text.startswith(title + ". Analysts had expected")
    assert n_tokens(tokenizer, text) <= 64
    # As much as fits: one more word of the summary would not.
    assert n_tokens(tokenizer, text) >= 60


def test_a_title_too_long_on_its_own_is_cut_and_the_summary_dropped(
    tiny_scorer: Any, tokenizer: Any
) -> None:
    title = "Acme shares slide after the regulator opens an inquiry " * 20
    text = article_text(title, "This summary does not fit.", scorer=tiny_scorer, max_length=32)
    assert n_tokens(tokenizer, text) <= 32
    assert title.startswith(text)
    assert "summary" not in text


def test_characters_the_tokenizer_ignores_stay_with_a_title_that_fits(
    tiny_scorer: Any, tokenizer: Any
) -> None:
    # U+F0000 (private use) is no token at all: "0:" and "0:\U000f0000" are both 2 tokens,
    # so the title fits max_length 4 and must be kept whole, not cut to "0:".
    assert n_tokens(tokenizer, "0:\U000f0000") == 4
    assert article_text("0:\U000f0000", "0", scorer=tiny_scorer, max_length=4) == "0:\U000f0000"
    title = "Fed\u200b cuts\U000f0000"
    assert article_text(title, "Shares rose.", scorer=tiny_scorer, max_length=4) == title


def test_a_megabyte_summary_is_cut_quickly(tiny_scorer: Any, tokenizer: Any) -> None:
    text = article_text("Acme", "word " * 200_000, scorer=tiny_scorer, max_length=128)
    assert n_tokens(tokenizer, text) <= 128
    assert text.startswith("Acme. word word")


@pytest.mark.parametrize(
    "summary",
    [
        "株価は急落した。" * 100,  # CJK: one token per character
        "한국 증시가 하락했다 " * 100,  # Hangul: NFD splits syllables into jamo
        "📉📉📉 crash 🚨" * 100,
        "e\u0301" * 500,  # combining accents
        "\u200b\u200d\ufeff" * 300 + "tail",  # zero-width characters only
        "السوق ينخفض " * 100,  # right-to-left
        "\x00\x07 control \ud7ff" * 100,
    ],
)
def test_unusual_unicode_fits_the_budget(tiny_scorer: Any, tokenizer: Any, summary: str) -> None:
    text = article_text("Markets", summary, scorer=tiny_scorer, max_length=48)
    assert n_tokens(tokenizer, text) <= 48
    assert text.startswith("Markets")


@PROPERTY
@given(
    title=st.text(max_size=120),
    summary=st.text(max_size=600),
    max_length=st.integers(min_value=3, max_value=96),
)
# Found by Hypothesis: the cut after the last fitting token dropped the title's final,
# token-less character (the title fits; the text must start with all of it).
@example(title="0:\U000f0000", summary="0", max_length=4)
@example(title="한" * 3, summary="x", max_length=3)  # one syllable, three jamo tokens
def test_any_text_fits_and_keeps_the_title_as_documented(
    tiny_scorer: Any, tokenizer: Any, title: str, summary: str, max_length: int
) -> None:
    text = article_text(title, summary, scorer=tiny_scorer, max_length=max_length)
    assert n_tokens(tokenizer, text) <= max_length
    whole_title = article_text(title, "", scorer=tiny_scorer, max_length=10_000)
    if n_tokens(tokenizer, whole_title) <= max_length:
        assert text.startswith(whole_title)
    else:
        assert whole_title.startswith(text)


@PROPERTY
@given(text=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=140))
def test_ascii_fast_path_never_lets_a_text_overflow(
    tiny_scorer: Any, tokenizer: Any, text: str
) -> None:
    # Short ASCII texts skip tokenisation; the bound behind that must hold.
    for max_length in (8, 32, 64):
        fitted = article_text(text, "", scorer=tiny_scorer, max_length=max_length)
        assert n_tokens(tokenizer, fitted) <= max_length


@PROPERTY
@given(items=st.lists(st.tuples(st.text(max_size=80), st.text(max_size=300)), max_size=12))
def test_the_batched_form_gives_the_same_texts(
    tiny_scorer: Any, items: list[tuple[str, str]]
) -> None:
    batched = article_texts(items, scorer=tiny_scorer, max_length=40)
    assert batched == [article_text(t, s, scorer=tiny_scorer, max_length=40) for t, s in items]


def test_the_uncut_join_is_what_the_budget_cuts(tiny_scorer: Any) -> None:
    from pipeline.scoring import joined_text

    assert joined_text(" $ACME &amp; Co ", "<p>up</p>") == "ACME & Co. up"
    assert joined_text("Why?", "") == "Why?"
    long = joined_text("Acme", "word " * 500)
    assert (
        article_text("Acme", "word " * 500, scorer=tiny_scorer, max_length=10)
        == (tiny_scorer.fit_to_length([long], max_length=10)[0])
    )
