"""Text cleaning shared by training and scoring, so both see text the same way."""

from __future__ import annotations

import html
import re

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
