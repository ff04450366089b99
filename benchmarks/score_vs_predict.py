"""``finsent score`` end to end (database read + write) vs raw ``Scorer.predict``, one run.

Reproduce the figures in BENCHMARKS.md (## Scoring)::

    nice .venv/bin/python benchmarks/score_vs_predict.py              # shipped model, 4,000 posts
    nice .venv/bin/python benchmarks/score_vs_predict.py --model /tmp/tiny --n 300 --runs 1

The same posts (a fixed sample, see ``finance_posts.py``) are stored as articles
(title = post, no summary) in a fresh SQLite file and a fresh PostgreSQL database.
Each round times, with one Scorer loaded once: ``Scorer.predict`` on all posts in
one call (the raw rate), then ``score_articles`` on each database (chunks of 256,
one transaction each, text building, anti-join reads and upserts included), after
deleting the previous round's scores. Rounds repeat; medians are reported. Finally
``finsent score --json`` runs once per database as a whole process (its own
``seconds`` excludes process start and model load, reported separately).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from finance_posts import finance_posts

PG_ADMIN_DSN = os.environ.get(
    "FINSENT_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
PG_URL_BASE = os.environ.get(
    "FINSENT_TEST_PG_URL_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432"
)


def fill_database(url: str, posts: list[str]) -> None:
    from sqlalchemy import insert

    from pipeline.db import make_engine, upgrade_database
    from pipeline.schema import Article

    upgrade_database(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    rows = [
        {"title": post, "summary": "", "content_hash": f"h{i}", "published_at": now}
        for i, post in enumerate(posts)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Article), rows)
    engine.dispose()


def clear_scores(engine) -> None:  # noqa: ANN001
    from sqlalchemy import delete

    from pipeline.schema import Score

    with engine.begin() as connection:
        connection.execute(delete(Score))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import psycopg

    from models import SHIPPED_MODEL_DIR, Scorer
    from pipeline.db import make_engine
    from pipeline.scoring import score_articles

    model_dir = args.model or SHIPPED_MODEL_DIR
    posts = finance_posts(args.n)
    started = time.perf_counter()
    scorer = Scorer.from_pretrained(
        model_dir, device="cpu", quantize=os.environ.get("FINSENT_QUANTIZE") or None
    )
    load_s = time.perf_counter() - started
    scorer.predict(posts[:64], batch_size=args.batch_size)  # warm-up

    tmp = tempfile.TemporaryDirectory()
    urls = {"sqlite": f"sqlite:///{Path(tmp.name) / 'bench.db'}"}
    pg_name = None
    if not args.no_pg:
        pg_name = f"finsent_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        urls["postgresql"] = f"{PG_URL_BASE}/{pg_name}"
    try:
        for url in urls.values():
            fill_database(url, posts)
        engines = {name: make_engine(url) for name, url in urls.items()}
        rates: dict[str, list[float]] = {"raw_predict": [], **{name: [] for name in urls}}
        for run in range(args.runs):
            t = time.perf_counter()
            predictions = scorer.predict(posts, batch_size=args.batch_size)
            rates["raw_predict"].append(len(predictions) / (time.perf_counter() - t))
            for name, engine in engines.items():
                clear_scores(engine)
                t = time.perf_counter()
                report = score_articles(
                    engine=engine,
                    scorer=scorer,
                    batch_size=args.batch_size,
                    chunk_size=args.chunk_size,
                )
                seconds = time.perf_counter() - t
                if report.scored != args.n:
                    raise SystemExit(f"{name}: scored {report.scored} of {args.n}")
                rates[name].append(report.scored / seconds)
            line = ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in rates.items())
            print(f"round {run + 1}: {line}", file=sys.stderr)

        cli: dict[str, dict] = {}
        finsent = str(Path(sys.executable).with_name("finsent"))
        for name, engine in engines.items():
            clear_scores(engine)
            env = {
                **os.environ,
                "FINSENT_DATABASE_URL": urls[name],
                "FINSENT_MODEL_DIR": str(model_dir),
            }
            command = [
                finsent,
                "score",
                "--json",
                "--device",
                "cpu",
                "--batch-size",
                str(args.batch_size),
            ]
            t = time.perf_counter()
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t
            cli[name] = {**json.loads(result.stdout), "process_wall_s": round(wall, 2)}
        for engine in engines.values():
            engine.dispose()
    finally:
        tmp.cleanup()
        if pg_name is not None:
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')

    medians = {name: round(statistics.median(values), 1) for name, values in rates.items()}
    result = {
        "n_posts": args.n,
        "runs": args.runs,
        "model": str(model_dir),
        "model_version": scorer.version,
        "quantize": scorer.quantize,
        "batch_size": args.batch_size,
        "chunk_size": args.chunk_size,
        "model_load_s": round(load_s, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()}",
        "median_articles_per_s": medians,
        "score_over_raw": {name: round(medians[name] / medians["raw_predict"], 3) for name in urls},
        "all_rates": {name: [round(v, 1) for v in values] for name, values in rates.items()},
        "finsent_score_cli": cli,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.n} posts, {args.runs} rounds, model {scorer.version} ({scorer.quantize}), "
        f"batch {args.batch_size}, chunk {args.chunk_size}, {result['machine']}"
    )
    print("| | articles/s (median) | vs raw predict |")
    print("|---|---:|---:|")
    print(f"| raw `Scorer.predict` | {medians['raw_predict']} | 100 % |")
    for name in urls:
        share = result["score_over_raw"][name] * 100
        print(f"| `score_articles`, {name} | {medians[name]} | {share:.0f} % |")
    for name, report in cli.items():
        print(
            f"`finsent score --json` on {name}: {report['articles_per_second']}/s over "
            f"{report['seconds']} s of scoring, {report['process_wall_s']} s as a whole process"
        )


if __name__ == "__main__":
    main()
