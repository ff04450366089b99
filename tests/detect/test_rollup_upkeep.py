"""Detection keeps the hourly rollup it reads compact (PostgreSQL, where the rollup lives)."""

from __future__ import annotations

import pytest
from detect_helpers import NOW, add_burst, add_ordinary_week
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.alerts import run_detection
from pipeline.alerts.notify import OutboxNotifier
from pipeline.db import make_engine
from pipeline.schema import ScoreHour
from pipeline.settings import Settings

pytestmark = pytest.mark.integration


def _keys_with_several_rows(engine: Engine) -> int:
    with Session(engine) as session:
        return len(
            session.execute(
                select(ScoreHour.hour)
                .group_by(
                    ScoreHour.model_version, ScoreHour.hour, ScoreHour.topic, ScoreHour.sentiment
                )
                .having(func.count() > 1)
            ).all()
        )


def test_a_detect_run_folds_the_deltas_of_the_hours_it_reads(pg_url: str, tmp_path) -> None:
    engine = make_engine(pg_url)
    try:
        add_ordinary_week(engine, now=NOW)
        # A second write into the same hours: each statement appends its own deltas.
        add_burst(engine, topic="banking", n=14, negatives=10, end=NOW)
        assert _keys_with_several_rows(engine) > 0
        before = run_detection(
            engine=engine,
            settings=Settings(),
            now=NOW,
            notifiers=[OutboxNotifier(folder=tmp_path)],
        )
        assert _keys_with_several_rows(engine) == 0
        # Counts read from the compacted rollup are the same: a second run agrees.
        again = run_detection(
            engine=engine, settings=Settings(), now=NOW, notifiers=[OutboxNotifier(folder=tmp_path)]
        )
        assert (before.opened, before.firing) == (2, 2) and (again.opened, again.firing) == (0, 2)
    finally:
        engine.dispose()
