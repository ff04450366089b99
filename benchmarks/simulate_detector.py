"""Simulate the spike detector: false alerts on stationary news, and detection delay.

Reproduce the figures in BENCHMARKS.md (## Detection)::

    .venv/bin/python benchmarks/simulate_detector.py            # 10 seeds, ~1 min
    .venv/bin/python benchmarks/simulate_detector.py --seeds 1 --json

The world: 20 topics with uneven volumes (geometric from 0.5 to 40 articles an
hour), a daily cycle (busy afternoons, quiet nights; weekends at half volume)
and a fixed negative rate per topic drawn from 10-30 %. Articles arrive as
Poisson counts per 15-minute slot; each is negative with its topic's rate. The
detector (``pipeline.alerts.rule``, the shipped defaults) is evaluated every 15 minutes
over 30 days after a 7-day warm-up, with the same alert lifecycle as the product
(open on ``fires``, resolve when ``sustains`` stops holding). Every alert here is
false: nothing changes.

Bursts: a topic whose normal negative rate is 15 % gets, for two hours starting at
a random time, max(12, its normal count) articles of which ceil(60 %) are
negative. We record the first evaluation that fires for that topic and whether it
came no later than the first evaluation at the end of the burst.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.alerts.rule import ALL_SCOPE, Counts, DetectorConfig, evaluate_scope

SLOTS_PER_HOUR = 4
WINDOW_SLOTS = 2 * SLOTS_PER_HOUR
BASELINE_SLOTS = 7 * 24 * SLOTS_PER_HOUR
N_TOPICS = 20


@dataclass
class World:
    volumes: np.ndarray  # (topics,) mean articles per hour
    rates: np.ndarray  # (topics,) negative rate


@dataclass
class StationaryResult:
    seed: int
    days: int
    evaluations: int
    scopes: int
    false_alerts: int
    alerts: list[tuple[float, str]]  # (day, scope)


@dataclass
class BurstResult:
    trials: int
    fired: int  # within two hours after the burst ended
    caught_by_first_evaluation_after: int
    median_delay_minutes: float
    max_delay_minutes: float
    by_volume: dict[str, float]  # articles/hour -> share caught in time


def make_world(rng: np.random.Generator) -> World:
    volumes = np.geomspace(0.5, 40.0, N_TOPICS)
    rates = rng.uniform(0.10, 0.30, N_TOPICS)
    return World(volumes=volumes, rates=rates)


def seasonality(n_slots: int, start_slot: int = 0) -> np.ndarray:
    """Volume multiplier per slot: peak mid-afternoon, trough at night, weekends halved."""
    slot = np.arange(start_slot, start_slot + n_slots)
    hour = (slot / SLOTS_PER_HOUR) % 24
    day = (slot // (24 * SLOTS_PER_HOUR)) % 7
    daily = 1.0 + 0.7 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)  # 0.3 .. 1.7
    weekly = np.where(day >= 5, 0.5, 1.0)
    return daily * weekly


def draw_counts(
    rng: np.random.Generator, world: World, n_slots: int, start_slot: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Articles and negatives per (slot, topic)."""
    lam = np.outer(seasonality(n_slots, start_slot), world.volumes / SLOTS_PER_HOUR)
    n = rng.poisson(lam)
    k = rng.binomial(n, world.rates)
    return n, k


def _cumulative(a: np.ndarray) -> np.ndarray:
    return np.vstack([np.zeros((1, a.shape[1]), dtype=np.int64), np.cumsum(a, axis=0)])


def _scope_counts(cn: np.ndarray, ck: np.ndarray, lo: int, hi: int) -> list[Counts]:
    """Counts over slots [lo, hi) per topic, then the all-topics sum last."""
    n = cn[hi] - cn[lo]
    k = ck[hi] - ck[lo]
    per_topic = [Counts(int(a), int(b)) for a, b in zip(n, k, strict=True)]
    return [*per_topic, Counts(int(n.sum()), int(k.sum()))]


def evaluate_at(
    cn: np.ndarray, ck: np.ndarray, t: int, config: DetectorConfig, scopes: list[int] | None = None
) -> dict[int, tuple[bool, bool]]:
    """Detector verdicts (fires, sustains) for the evaluation at slot boundary ``t``.

    Scope index ``N_TOPICS`` is the all-articles scope.
    """
    window = _scope_counts(cn, ck, t - WINDOW_SLOTS, t)
    baseline = _scope_counts(cn, ck, t - WINDOW_SLOTS - BASELINE_SLOTS, t - WINDOW_SLOTS)
    overall = baseline[-1]
    overall_rate = overall.negatives / overall.n
    out = {}
    for scope in scopes if scopes is not None else range(len(window)):
        ev = evaluate_scope(
            window=window[scope], baseline=baseline[scope], overall_rate=overall_rate, config=config
        )
        out[scope] = (ev.fires, ev.sustains)
    return out


def run_stationary(seed: int, *, days: int = 30, config: DetectorConfig | None = None):
    """Count alert openings over ``days`` of stationary news (all of them false)."""
    config = config or DetectorConfig()
    rng = np.random.default_rng(seed)
    world = make_world(rng)
    warmup = BASELINE_SLOTS + WINDOW_SLOTS
    total = warmup + days * 24 * SLOTS_PER_HOUR
    n, k = draw_counts(rng, world, total)
    cn, ck = _cumulative(n), _cumulative(k)
    firing = [False] * (N_TOPICS + 1)
    alerts: list[tuple[float, str]] = []
    evaluations = 0
    for t in range(warmup, total + 1):
        evaluations += 1
        for scope, (fires, sustains) in evaluate_at(cn, ck, t, config).items():
            if not firing[scope] and fires:
                firing[scope] = True
                name = ALL_SCOPE if scope == N_TOPICS else f"topic{scope:02d}"
                alerts.append(((t - warmup) / (24 * SLOTS_PER_HOUR), name))
            elif firing[scope] and not sustains:
                firing[scope] = False
    return StationaryResult(seed, days, evaluations, N_TOPICS + 1, len(alerts), alerts)


def run_bursts(
    seed: int, *, trials_per_topic: int = 10, config: DetectorConfig | None = None
) -> BurstResult:
    """Inject 15 % -> 60 % bursts and time their detection."""
    config = config or DetectorConfig()
    rng = np.random.default_rng(10_000 + seed)
    world = make_world(rng)
    delays: list[float] = []
    caught = 0
    per_volume: dict[str, list[bool]] = {}
    trials = 0
    for topic in range(N_TOPICS):
        rates = world.rates.copy()
        rates[topic] = 0.15
        burst_world = World(world.volumes, rates)
        for _ in range(trials_per_topic):
            start = int(rng.integers(0, 7 * 24 * SLOTS_PER_HOUR))
            burst_at = BASELINE_SLOTS + WINDOW_SLOTS  # burst starts at this slot index
            total = burst_at + 3 * WINDOW_SLOTS
            n, k = draw_counts(rng, burst_world, total, start_slot=start)
            normal = int(n[burst_at : burst_at + WINDOW_SLOTS, topic].sum())
            n_burst = max(12, normal)
            k_burst = math.ceil(0.6 * n_burst)
            slots = np.sort(rng.integers(0, WINDOW_SLOTS, n_burst))
            negative = rng.permutation(np.arange(n_burst) < k_burst)
            n[burst_at : burst_at + WINDOW_SLOTS, topic] = np.bincount(
                slots, minlength=WINDOW_SLOTS
            )
            k[burst_at : burst_at + WINDOW_SLOTS, topic] = np.bincount(
                slots, weights=negative, minlength=WINDOW_SLOTS
            ).astype(np.int64)
            cn, ck = _cumulative(n), _cumulative(k)
            fired_at = None
            for t in range(burst_at + 1, total + 1):
                if evaluate_at(cn, ck, t, config, scopes=[topic])[topic][0]:
                    fired_at = t
                    break
            in_time = fired_at is not None and fired_at <= burst_at + WINDOW_SLOTS
            trials += 1
            caught += in_time
            if fired_at is not None:
                delays.append((fired_at - burst_at) * 60 / SLOTS_PER_HOUR)
            per_volume.setdefault(f"{world.volumes[topic]:.1f}", []).append(in_time)
    return BurstResult(
        trials=trials,
        fired=len(delays),
        caught_by_first_evaluation_after=caught,
        median_delay_minutes=float(np.median(delays)) if delays else math.nan,
        max_delay_minutes=float(max(delays)) if delays else math.nan,
        by_volume={v: float(np.mean(hits)) for v, hits in per_volume.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="independent 30-day worlds")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--trials", type=int, default=10, help="bursts per topic per seed")
    parser.add_argument(
        "--lift-alpha",
        type=float,
        default=DetectorConfig().lift_alpha,
        help="1.0 switches the lift test off (the ablation in BENCHMARKS.md)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    config = DetectorConfig(lift_alpha=args.lift_alpha)
    stationary = [run_stationary(s, days=args.days, config=config) for s in range(args.seeds)]
    bursts = [run_bursts(s, trials_per_topic=args.trials, config=config) for s in range(args.seeds)]
    volumes = sorted(bursts[0].by_volume, key=float)
    summary = {
        "config": asdict(config),
        "days": args.days,
        "false_alerts_per_seed": [r.false_alerts for r in stationary],
        "false_alerts_mean": float(np.mean([r.false_alerts for r in stationary])),
        "false_alerts_max": max(r.false_alerts for r in stationary),
        "false_alert_scopes": [(r.seed, day, scope) for r in stationary for day, scope in r.alerts],
        "evaluations_per_seed": stationary[0].evaluations * stationary[0].scopes,
        "burst_trials": sum(b.trials for b in bursts),
        "burst_fired_within_2h_after": sum(b.fired for b in bursts),
        "burst_caught_by_first_evaluation_after": sum(
            b.caught_by_first_evaluation_after for b in bursts
        ),
        "burst_median_delay_minutes": float(np.median([b.median_delay_minutes for b in bursts])),
        "burst_max_delay_minutes": float(max(b.max_delay_minutes for b in bursts)),
        "burst_caught_in_time_by_volume": {
            v: round(float(np.mean([b.by_volume[v] for b in bursts])), 3) for v in volumes
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(summary, default=str))
        return
    for key, value in summary.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
