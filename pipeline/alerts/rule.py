"""Spike detection: pure functions of counts, no database.

For each scope (all articles together, and each topic) the detector compares the
negative share in the recent window (default: the last 2 hours) with the scope's
own baseline: its negative rate over the trailing 7 days *before* the window.

Baseline smoothing (empirical Bayes). A topic with little history has a noisy
rate, so its baseline is the posterior mean under a Beta prior centred on the
overall negative rate (all topics together, same baseline period) with
``prior_strength`` pseudo-articles::

    baseline = (negatives_7d + prior_strength * overall_rate) / (articles_7d + prior_strength)

A topic with thousands of articles keeps its own rate; a brand-new topic starts
at the overall rate.

A scope *fires* only when all of these hold:

* the window holds at least ``min_volume`` articles;
* ``share - baseline >= min_lift`` (absolute, e.g. 0.15 = fifteen points);
* the one-sided exact binomial test ``P(X >= negatives | n, baseline) < alpha``;
* the same test against ``baseline + min_lift`` gives ``p < lift_alpha`` (default
  0.025): the lift itself is real, not one lucky draw past the line. Without this
  condition a stationary 20-topic world still raised about 8 false alerts a month
  (benchmarks/simulate_detector.py), nearly all of them windows whose share only
  just crossed ``baseline + min_lift``; a genuine 15 % -> 60 % burst passes it at
  any volume of 12 articles or more.

A firing alert stays firing while the looser *sustain* condition holds
(``p < resolve_alpha`` and ``share - baseline >= resolve_lift``), and resolves
when the window falls back under it. The gap between the two thresholds is
hysteresis: an alert does not flap open-shut-open around the firing threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scipy.special import bdtrc

RULE_NAME = "NegativeNewsSurge"
ALL_SCOPE = "all"


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds of the rule; defaults are the documented ones (see module docstring)."""

    alpha: float = 0.001
    min_volume: int = 10
    min_lift: float = 0.15
    lift_alpha: float = 0.025
    prior_strength: float = 50.0
    resolve_alpha: float = 0.01
    resolve_lift: float = 0.10
    # The overall baseline must hold this many articles before anything is evaluated:
    # against a handful of articles every rate is noise (a fresh install).
    min_baseline_volume: int = 100

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.min_volume < 1:
            raise ValueError(f"min_volume must be at least 1, got {self.min_volume}")
        if not 0.0 <= self.min_lift < 1.0:
            raise ValueError(f"min_lift must be in [0, 1), got {self.min_lift}")
        if not 0.0 < self.lift_alpha <= 1.0:
            raise ValueError(f"lift_alpha must be in (0, 1], got {self.lift_alpha}")
        if self.prior_strength < 0:
            raise ValueError(f"prior_strength must be >= 0, got {self.prior_strength}")
        if not self.alpha <= self.resolve_alpha < 1.0:
            raise ValueError(
                f"resolve_alpha must be in [alpha, 1), got {self.resolve_alpha} "
                f"(alpha {self.alpha})"
            )
        if not 0.0 <= self.resolve_lift <= self.min_lift:
            raise ValueError(
                f"resolve_lift must be in [0, min_lift], got {self.resolve_lift} "
                f"(min_lift {self.min_lift})"
            )
        if self.min_baseline_volume < 0:
            raise ValueError(f"min_baseline_volume must be >= 0, got {self.min_baseline_volume}")


@dataclass(frozen=True)
class Counts:
    """Articles and how many of them are negative, in one scope and period."""

    n: int
    negatives: int

    def __post_init__(self) -> None:
        if self.n < 0 or not 0 <= self.negatives <= self.n:
            raise ValueError(f"need 0 <= negatives <= n, got negatives={self.negatives} n={self.n}")

    @property
    def rate(self) -> float | None:
        return self.negatives / self.n if self.n else None

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.n + other.n, self.negatives + other.negatives)


@dataclass(frozen=True)
class Evaluation:
    """The detector's verdict for one scope at one evaluation, with its evidence."""

    n: int
    negatives: int
    share: float
    baseline: float
    baseline_n: int
    baseline_negatives: int
    lift: float
    p_value: float
    lift_p_value: float  # the same test against baseline + min_lift
    fires: bool  # the firing condition holds (opens an alert)
    sustains: bool  # the looser condition that keeps an open alert firing

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def binomial_tail(k: int, n: int, p: float) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p)``: the exact one-sided p-value.

    >>> round(binomial_tail(8, 12, 0.15), 6)
    7.6e-05
    """
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    # bdtrc(k - 1, n, p) = P(X > k - 1), via the regularised incomplete beta function.
    return float(min(1.0, max(0.0, bdtrc(k - 1, n, p))))


def smoothed_baseline(*, baseline: Counts, overall_rate: float, prior_strength: float) -> float:
    """The scope's baseline negative rate, shrunk towards ``overall_rate`` (Beta prior mean)."""
    denominator = baseline.n + prior_strength
    if denominator == 0:
        return overall_rate
    return (baseline.negatives + prior_strength * overall_rate) / denominator


def evaluate_scope(
    *, window: Counts, baseline: Counts, overall_rate: float, config: DetectorConfig
) -> Evaluation:
    """Test one scope's recent window against its (smoothed) baseline."""
    base = smoothed_baseline(
        baseline=baseline, overall_rate=overall_rate, prior_strength=config.prior_strength
    )
    share = window.negatives / window.n if window.n else 0.0
    lift = share - base
    p_value = binomial_tail(window.negatives, window.n, base)
    lift_p_value = binomial_tail(window.negatives, window.n, min(1.0, base + config.min_lift))
    # A tiny epsilon so that a lift of exactly min_lift (e.g. 0.60 - 0.45) counts as reached
    # despite binary floating point.
    eps = 1e-9
    fires = (
        window.n >= config.min_volume
        and lift + eps >= config.min_lift
        and p_value < config.alpha
        and lift_p_value < config.lift_alpha
    )
    sustains = window.n > 0 and lift + eps >= config.resolve_lift and p_value < config.resolve_alpha
    return Evaluation(
        n=window.n,
        negatives=window.negatives,
        share=share,
        baseline=base,
        baseline_n=baseline.n,
        baseline_negatives=baseline.negatives,
        lift=lift,
        p_value=p_value,
        lift_p_value=lift_p_value,
        fires=fires,
        sustains=sustains or fires,
    )


def evaluate_scopes(
    *,
    window: dict[str, Counts],
    baseline: dict[str, Counts],
    config: DetectorConfig,
) -> dict[str, Evaluation]:
    """Evaluate every scope; keys are topic names plus :data:`ALL_SCOPE`.

    ``window`` and ``baseline`` map topic -> counts (topics only; the ``all`` scope
    is their sum). Returns nothing when the overall baseline is thinner than
    ``config.min_baseline_volume`` articles: there is no normal level to compare with yet.
    """
    overall_base = sum(baseline.values(), Counts(0, 0))
    overall_window = sum(window.values(), Counts(0, 0))
    if overall_base.n < max(1, config.min_baseline_volume):
        return {}
    overall_rate = overall_base.negatives / overall_base.n
    results = {
        ALL_SCOPE: evaluate_scope(
            window=overall_window, baseline=overall_base, overall_rate=overall_rate, config=config
        )
    }
    for topic in sorted(set(window) | set(baseline)):
        results[topic] = evaluate_scope(
            window=window.get(topic, Counts(0, 0)),
            baseline=baseline.get(topic, Counts(0, 0)),
            overall_rate=overall_rate,
            config=config,
        )
    return results
