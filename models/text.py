"""Text as the model reads it: one cleaning for training and scoring, and the token budget."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

_URL = re.compile(r"(?:https?://|www\.)\S+|\bt\.co/\S+", re.IGNORECASE)
# `$AAPL` → `AAPL`; money like `$5bn` keeps its `$` (a cashtag starts with a letter).
_CASHTAG = re.compile(r"\$([A-Za-z][A-Za-z0-9.\-]{0,9})\b")
_TAG = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """Normalise a post or headline: unescape HTML, drop tags and links, plain tickers.

    Tweets end in ``https://t.co/...`` links and write ``$TICKER``; news headlines do
    neither. Removing both from training and scoring input keeps the model from keying
    on tweet-only surface features.

    >>> clean_text("$AAPL beats &amp; raises  https://t.co/xyz")
    'AAPL beats & raises'
    """
    if not text:
        return ""
    # Twice: feeds sometimes double-escape (`&amp;amp;`).
    text = html.unescape(html.unescape(str(text)))
    text = _TAG.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _CASHTAG.sub(r"\1", text)
    return _SPACE.sub(" ", text).strip()


# Vocabulary tokens are far shorter than this many characters (WordPiece reads a longer
# "word" as one [UNK]), so cutting a text to max_length * this many characters before
# tokenising bounds the cost and loses no readable text, unless the text is mostly
# whitespace or such "words". Scoring and prediction cut with the same bound, so a text
# fitted to the budget is never cut again on its way into the model.
MAX_CHARS_PER_TOKEN = 100
# A cut inside a word can, rarely, tokenise into more pieces than before; each round of
# cutting shortens the text, and this many rounds are always enough in practice.
_ROUNDS = 8


def fit_to_token_budget(texts: Sequence[str], *, tokenizer: Any, max_length: int) -> list[str]:
    """Each text cut, at a token boundary, so that with ``tokenizer``'s special tokens it
    is at most ``max_length`` tokens long; texts that fit are returned unchanged.

    A cut text is a prefix of the original (trailing whitespace dropped) that ends just
    before the first token that does not fit, so it keeps every character the tokenizer
    reads as nothing (zero-width, private-use) in front of that token: a prefix of a
    text that fits is kept whole. Needs a fast tokenizer (offsets); with a slow one the
    texts are returned unchanged and the model's own truncation applies.

    >>> from transformers import AutoTokenizer  # doctest: +SKIP
    >>> fit_to_token_budget(["Acme beats estimates"], tokenizer=tok, max_length=4)  # doctest: +SKIP
    ['Acme beats']
    """
    out = list(texts)
    if not getattr(tokenizer, "is_fast", False):
        return out
    budget = max(max_length - tokenizer.num_special_tokens_to_add(pair=False), 1)
    # In an ASCII text every token covers at least one character (plus, at most, one
    # SentencePiece word-start marker), so a short one cannot be too long: no tokenising.
    pending = [i for i, text in enumerate(out) if len(text) + 1 > budget or not text.isascii()]
    for i in pending:
        out[i] = out[i][: max_length * MAX_CHARS_PER_TOKEN]
    # One batched tokenizer call per round.
    for _ in range(_ROUNDS):
        if not pending:
            break
        encoded = tokenizer(
            [out[i] for i in pending], add_special_tokens=False, return_offsets_mapping=True
        )
        still_long = []
        for i, offsets in zip(pending, encoded["offset_mapping"], strict=True):
            if len(offsets) <= budget:
                continue
            text = out[i]
            # Just before the first token that does not fit: whatever lies between it and
            # the last token that does (spaces, characters the tokenizer drops) is kept.
            cut = offsets[budget][0]
            if cut >= len(text):
                continue  # zero-width tokens at the end: the model's own truncation applies
            out[i] = text[:cut].rstrip()
            still_long.append(i)
        pending = still_long
    return out
