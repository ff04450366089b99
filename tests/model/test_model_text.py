"""The one cleaning function used by training and scoring."""

from __future__ import annotations

import pytest

from models.text import clean_text, fit_to_token_budget


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("$AAPL beats estimates https://t.co/AbC123", "AAPL beats estimates"),
        ("$CCL $RCL - Nomura cuts", "CCL RCL - Nomura cuts"),
        ("Buy $BRK.B now", "Buy BRK.B now"),
        ("Revenue of $5 billion", "Revenue of $5 billion"),
        ("Exxon &amp; Chevron &amp;amp; BP", "Exxon & Chevron & BP"),
        ("<p>Shares <b>fall</b></p>", "Shares fall"),
        ("  many \n\t spaces  ", "many spaces"),
        ("see www.example.com/x for more", "see for more"),
        ("", ""),
        (None, ""),
        ("Gewinn steigt 📈", "Gewinn steigt 📈"),
    ],
)
def test_clean_text(raw: str | None, clean: str) -> None:
    assert clean_text(raw) == clean


# The token budget: cuts at token boundaries, keeps what fits, never cuts a fitting prefix.
@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from models.config import MINILM_PACKAGE
    from models.network import resolve_encoder_path

    return AutoTokenizer.from_pretrained(str(resolve_encoder_path(MINILM_PACKAGE)))


def n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text)["input_ids"])


def test_texts_that_fit_are_returned_unchanged(tokenizer) -> None:
    texts = ["", "Fed holds rates", "  spaced  ", "株価"]
    assert fit_to_token_budget(texts, tokenizer=tokenizer, max_length=16) == texts


@pytest.mark.parametrize("max_length", [3, 4, 5, 8])
def test_cut_before_the_first_token_that_does_not_fit(tokenizer, max_length: int) -> None:
    text = "Fed holds rates steady as inflation cools further"
    (cut,) = fit_to_token_budget([text], tokenizer=tokenizer, max_length=max_length)
    words = text.split()
    # Every word here is one token: the cut keeps exactly max_length - 2 of them.
    assert cut == " ".join(words[: max_length - 2])
    assert n_tokens(tokenizer, cut) == max_length


def test_characters_without_tokens_before_the_cut_are_kept(tokenizer) -> None:
    # U+F0000 (private use) and U+200B are no tokens: they belong to the prefix that fits.
    (cut,) = fit_to_token_budget(["0:\U000f0000. 0"], tokenizer=tokenizer, max_length=4)
    assert cut == "0:\U000f0000"
    (cut,) = fit_to_token_budget(["Fed\u200b cuts again"], tokenizer=tokenizer, max_length=4)
    assert cut == "Fed\u200b cuts"


def test_a_word_cut_mid_way_is_cut_again_until_it_fits(tokenizer) -> None:
    text = "a " + "x" * 300 + " tail"  # one [UNK]-length run of pieces
    for max_length in (3, 5, 9):
        (cut,) = fit_to_token_budget([text], tokenizer=tokenizer, max_length=max_length)
        assert n_tokens(tokenizer, cut) <= max_length
        assert text.startswith(cut)


def test_a_slow_tokenizer_leaves_texts_to_the_models_truncation() -> None:
    class Slow:
        is_fast = False

    assert fit_to_token_budget(["a b c"], tokenizer=Slow(), max_length=3) == ["a b c"]
