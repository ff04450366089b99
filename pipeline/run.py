"""The whole data path once: ingest → score → detect (what ``finsent run`` and the demo do)."""

from __future__ import annotations

from typing import Any

from pipeline.settings import Settings


def run_pipeline(*, settings: Settings, progress: bool = False) -> dict[str, dict[str, Any]]:
    """Run the three stages once against ``settings``; returns each stage's report."""
    # Heavy imports (torch, transformers) only once the data path actually runs.
    from pipeline.alerts import run_detection
    from pipeline.ingest import ingest_feeds
    from pipeline.scoring import score_articles
    from pipeline.wiring import load_scorer, open_database

    engine = open_database(settings, migrate=True)
    try:
        ingest = ingest_feeds(engine=engine, settings=settings)
        scorer = load_scorer(settings)
        score = score_articles(engine=engine, scorer=scorer, progress=progress)
        detect = run_detection(
            engine=engine,
            settings=settings,
        )
    finally:
        engine.dispose()
    return {"ingest": ingest.as_dict(), "score": score.as_dict(), "detect": detect.as_dict()}
