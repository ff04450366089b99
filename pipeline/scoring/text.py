"""The text the model scores for an article: ``"<title>. <summary>"``, cleaned once, cut to
the model's token budget with the title kept whole.

Each part is cleaned the way the model cleans its input (:func:`models.clean_text`: HTML
entities and tag remnants, links and the ``$`` of cashtags removed, whitespace collapsed),
here and only here: scoring predicts with ``clean=False``, so the budget is spent on the
words the model actually reads and nothing is cleaned twice. The period is left out when
the title already ends in sentence punctuation, and a missing part is simply left out
(title only, summary only, or the empty string). The cut itself is the model's
(:meth:`models.Scorer.fit_to_length`): it keeps everything before the first token that
does not fit, so the summary is cut first and a title is cut only when it alone does not
fit — and then the text is a prefix of the (cleaned) title.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from models import clean_text

# The period is not doubled after a title that already ends a sentence.
_SENTENCE_END = (".", "!", "?", ":", ";", "…")


class TextFitter(Protocol):
    """What building article texts needs of the model (``models.Scorer`` has it)."""

    def fit_to_length(
        self, texts: Sequence[str], *, max_length: int | None = None
    ) -> list[str]: ...


def joined_text(title: str, summary: str) -> str:
    """Title and summary, each cleaned, as one line of text, not yet cut to any budget (see
    the module docstring): what the model reads of an article before the cut; training
    data exported from articles (corrections) uses it too, and training cuts it itself."""
    title = clean_text(title)
    summary = clean_text(summary)
    if not title or not summary:
        return title or summary
    separator = " " if title.endswith(_SENTENCE_END) else ". "
    return f"{title}{separator}{summary}"


def article_text(
    title: str, summary: str, *, scorer: TextFitter, max_length: int | None = None
) -> str:
    """The text the model scores for one article, at most ``max_length`` tokens long
    (default: the model's own maximum), special tokens included.

    ``"<title>. <summary>"`` (each part cleaned like model input, no doubled period,
    missing parts left out), cut at a token boundary. The summary is cut first: when the
    title alone fits, the text starts with the whole cleaned title; when it does not, the
    text is a prefix of it. For example ``("Apple beats estimates", "Shares rose.")``
    gives ``"Apple beats estimates. Shares rose."``.
    """
    return article_texts([(title, summary)], scorer=scorer, max_length=max_length)[0]


def article_texts(
    items: Sequence[tuple[str, str]], *, scorer: TextFitter, max_length: int | None = None
) -> list[str]:
    """:func:`article_text` for many (title, summary) pairs, tokenising in batches."""
    texts = [joined_text(title or "", summary or "") for title, summary in items]
    return scorer.fit_to_length(texts, max_length=max_length)
