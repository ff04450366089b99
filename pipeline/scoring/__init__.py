"""The scoring stage: articles without a score from the current model version → ``scores``.

Read in data-path order: :mod:`~pipeline.scoring.text` (title + summary → the text the
model reads, cleaned once and cut to its token budget), :mod:`~pipeline.scoring.store`
(which articles still need a score, claiming them, writing rows, splitting the backlog
into id ranges) and :mod:`~pipeline.scoring.stage` (:func:`score_articles`: one run,
chunk by chunk, with its guarantees). The model is used only through the public API of
``models``: ``Scorer.fit_to_length``, ``Scorer.predict`` and ``clean_text``.
"""

from pipeline.scoring.stage import ScoreReport, ScoringModel, score_articles
from pipeline.scoring.store import unscored_id_ranges
from pipeline.scoring.text import TextFitter, article_text, article_texts, joined_text

__all__ = [
    "ScoreReport",
    "ScoringModel",
    "TextFitter",
    "article_text",
    "article_texts",
    "joined_text",
    "score_articles",
    "unscored_id_ranges",
]
