"""``finsent score``: label every article not yet scored by the current model version."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import typer

from pipeline.cli.app import JsonOption, app, print_json
from pipeline.errors import UsageError
from pipeline.settings import get_settings


@app.command("score")
def score(
    json_output: bool = JsonOption,
    batch_size: int = typer.Option(
        64, "--batch-size", min=1, help="Texts per forward pass (try 1024+ on a GPU)."
    ),
    device: Literal["auto", "cpu", "cuda"] | None = typer.Option(
        None,
        "--device",
        help="auto (CUDA when present), cpu or cuda; default FINSENT_DEVICE, else auto.",
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=0, help="Score at most this many articles (newest first)."
    ),
    rescore: bool = typer.Option(
        False,
        "--rescore",
        help="Score every article again with the current model version and overwrite "
        "that version's rows (other versions' rows are kept).",
    ),
    chunk_size: int | None = typer.Option(
        None,
        "--chunk-size",
        min=1,
        help="Articles per transaction (a kill loses at most one chunk); "
        "default max(256, 4 x batch size).",
    ),
    model: Path | None = typer.Option(
        None, "--model", help="Model directory; default FINSENT_MODEL_DIR, else the shipped model."
    ),
    min_id: int | None = typer.Option(
        None, "--min-id", min=1, help="Only articles with at least this id (inclusive)."
    ),
    max_id: int | None = typer.Option(
        None, "--max-id", min=1, help="Only articles with at most this id (inclusive)."
    ),
) -> None:
    """Score articles that have no score from the current model version, newest first."""
    # Heavy imports here, not at module level: `finsent --help` stays fast.
    from pipeline.scoring import score_articles
    from pipeline.wiring import load_scorer, open_database

    if min_id is not None and max_id is not None and min_id > max_id:
        raise UsageError(
            f"--min-id {min_id} is above --max-id {max_id}: no article is in that range"
        )
    settings = get_settings()
    engine = open_database(settings, migrate=False)
    try:
        scorer = load_scorer(settings, model_dir=model, device=device)
        report = score_articles(
            engine=engine,
            scorer=scorer,
            batch_size=batch_size,
            limit=limit,
            rescore=rescore,
            # Chunks of several batches: the Scorer sorts each chunk by length, and a GPU
            # with a large batch size should never get less than a batch at a time.
            chunk_size=chunk_size or max(256, 4 * batch_size),
            progress=not json_output and sys.stderr.isatty(),
            min_id=min_id,
            max_id=max_id,
        )
    finally:
        engine.dispose()

    if json_output:
        print_json(report.as_dict())
    else:
        typer.echo(
            f"scored {report.scored} articles with model {report.model_version} "
            f"in {report.seconds:.1f}s ({report.articles_per_second:.0f}/s)"
        )
