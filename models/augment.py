"""News-style sentiment examples from a template grammar, to bridge the tweet -> headline shift.

finsent trains on finance tweets but scores news headlines. News states good and bad results as
plain facts ("net sales rose 12% to EUR 40 million"), which a tweet-trained model tends to call
neutral. `news_style_examples` writes such sentences with investor-perspective labels: growth in
sales/profit and a fall in costs/losses/debt are positive; the opposite is negative; schedules,
appointments and descriptions are neutral.

Pure standard library and deterministic for a seed. All company names are invented so the
held-out eval set (models/data/news_headlines_eval.csv, real-looking names) never overlaps.

    python -m models.augment --n 20 --seed 0
"""

from __future__ import annotations

import argparse
import random

from models._augment_vocab import (
    AGENCIES,
    BROKERS,
    CITIES,
    CLIENTS,
    COUNTRIES,
    CURRENCIES,
    DATES,
    EVENTS,
    EXCHANGES,
    FIRST_NAMES,
    LAST_NAMES,
    METRICS,
    NAME_HEADS,
    NAME_TAILS,
    PERIODS,
    PRODUCTS,
    Metric,
)

# Tweets already carry plenty of neutral text, so news augmentation leans to the polar classes.
CLASS_WEIGHTS = {"positive": 0.40, "negative": 0.35, "neutral": 0.25}

# (past, present 3sg, participle) per direction; "good" means the number went up.
_UP = [
    ("rose", "rises", "risen"),
    ("increased", "increases", "increased"),
    ("grew", "grows", "grown"),
    ("climbed", "climbs", "climbed"),
    ("jumped", "jumps", "jumped"),
    ("surged", "surges", "surged"),
]
_DOWN = [
    ("fell", "falls", "fallen"),
    ("decreased", "decreases", "decreased"),
    ("declined", "declines", "declined"),
    ("dropped", "drops", "dropped"),
    ("slumped", "slumps", "slumped"),
    ("shrank", "shrinks", "shrunk"),
]
_IMPROVED = ("improved", "improves", "improved")
_WEAKENED = ("weakened", "weakens", "weakened")
_NARROWED = ("narrowed", "narrows", "narrowed")
_WIDENED = ("widened", "widens", "widened")
_PCT_FORMS = ("{p}%", "{p} %", "{p} percent", "{p} per cent", "{p} pct")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _poss(name: str) -> str:
    """News-style possessive: "Nordvik Foods'" but "Nordvik Oyj's"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


class _Builder:
    """Draws one sentence at a time from a seeded RNG; all state lives in `rng`."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, seq):  # type: ignore[no-untyped-def]
        return self.rng.choice(seq)

    # ---- slot fillers -------------------------------------------------------------------
    def company(self, *, generic_ok: bool = True) -> str:
        if generic_ok and self.rng.random() < 0.2:
            return self.pick(("the company", "the group", "the firm"))
        return f"{self.pick(NAME_HEADS)} {self.pick(NAME_TAILS)}"

    def person(self) -> str:
        return f"{self.pick(FIRST_NAMES)} {self.pick(LAST_NAMES)}"

    def money(self, value: float, *, cur: str, short: bool) -> str:
        if value >= 1000:
            unit = "bln" if short else self.pick(("billion", "bn"))
            return f"{cur} {value / 1000:.2f} {unit}"
        unit = self.pick(("mln", "mn", "m")) if short else self.pick(("million", "mn", "million"))
        return f"{cur} {value:.1f} {unit}"

    def pct(self, p: float) -> str:
        return self.pick(_PCT_FORMS).format(p=f"{p:.1f}".removesuffix(".0"))

    def slots(self) -> dict[str, str]:
        cur = self.pick(CURRENCIES)
        co = self.company(generic_ok=False)
        return {
            "co": co,
            "co_s": _poss(co),
            "co2": self.company(generic_ok=False),
            "client": self.pick(CLIENTS),
            "broker": self.pick(BROKERS),
            "agency": self.pick(AGENCIES),
            "city": self.pick(CITIES),
            "country": self.pick(COUNTRIES),
            "product": self.pick(PRODUCTS),
            "person": self.person(),
            "date": self.pick(DATES),
            "exchange": self.pick(EXCHANGES),
            "year": str(self.rng.randint(2008, 2025)),
            "born": str(self.rng.randint(1955, 1985)),
            "q": self.pick(("first", "second", "third", "fourth")),
            "qs": self.pick(("Q1", "Q2", "Q3", "Q4", "H1", "FY", "9M")),
            "amt": self.money(self.rng.uniform(2, 900), cur=cur, short=False),
            "amt_s": self.money(self.rng.uniform(2, 900), cur=cur, short=True),
            "n": str(self.rng.choice((40, 60, 85, 120, 150, 200, 250, 300, 450, 600, 800, 1200))),
            "pct": self.pct(self.rng.uniform(1, 40)),
            "dps": f"{cur} {self.rng.uniform(0.05, 2.5):.2f}",
            "dps_hi": f"{cur} {self.rng.uniform(0.3, 1.2):.2f}",
            "dps_lo": f"{cur} {self.rng.uniform(0.05, 0.29):.2f}",
            "price": f"{cur} {self.rng.uniform(1, 180):.2f}",
            "time": self.pick(("10:00", "11:30", "13:00", "14:00", "15:30")),
            "cur": cur,
        }

    # ---- metric sentences ---------------------------------------------------------------
    def metric_sentence(self, sentiment: str) -> str:
        metric: Metric = self.pick(METRICS)
        # Which way the number moved follows from the label and whether higher is better.
        went_up = (sentiment == "positive") == metric.higher_is_better
        verb = self._verb(metric, went_up)
        change, new_level = self._change(metric, went_up)
        headline = self.rng.random() < 0.35
        if headline:
            return self._headline(metric, verb, went_up, new_level)
        return self._formal(metric, verb, change, went_up)

    def _verb(self, metric: Metric, went_up: bool) -> tuple[str, str, str]:
        if metric.is_loss and self.rng.random() < 0.5:
            return _WIDENED if went_up else _NARROWED
        if metric.kind in ("level", "profit") and self.rng.random() < 0.2:
            return _IMPROVED if went_up == metric.higher_is_better else _WEAKENED
        return self.pick(_UP if went_up else _DOWN)

    def _change(self, metric: Metric, went_up: bool) -> tuple[str, str]:
        """The change phrase ("by 12% to EUR 40.0 million") and the bare new level."""
        p = self.rng.uniform(1.5, 60.0)
        if metric.kind == "level":  # margin, market share: quoted in percent and points
            old = self.rng.uniform(2.0, 35.0)
            new = old + (1 if went_up else -1) * old * min(p, 80) / 100
            forms: tuple[str, ...] = (
                f"to {new:.1f}% from {old:.1f}%",
                f"by {abs(new - old):.1f} percentage points to {new:.1f}%",
                f"from {old:.1f} % to {new:.1f} %",
            )
            return self.pick(forms), f"{new:.1f}%"
        cur = self.pick(CURRENCIES)
        if metric.kind == "per_share":
            old = self.rng.uniform(0.05, 4.0)
            new = old * (1 + p / 100) if went_up else old * (1 - min(p, 90) / 100)
            forms = (f"to {cur} {new:.2f} from {cur} {old:.2f}", f"by {self.pct(p)}")
            return self.pick(forms), f"{cur} {new:.2f}"
        old = (
            self.rng.uniform(0.8, 4000.0) if metric.kind != "profit" else self.rng.uniform(0.5, 600)
        )
        new = old * (1 + p / 100) if went_up else old * (1 - min(p, 90) / 100)
        new_s = self.money(new, cur=cur, short=False)
        old_s = self.money(old, cur=cur, short=False)
        forms = (
            f"by {self.pct(p)} to {new_s}",
            f"to {new_s} from {old_s}",
            f"by {self.pct(p)}",
            f"{self.pct(p)} year-on-year to {new_s}",
            f"from {old_s} to {new_s}",
        )
        return self.pick(forms), self.money(new, cur=cur, short=True)

    def _formal(
        self, metric: Metric, verb: tuple[str, str, str], change: str, went_up: bool
    ) -> str:
        co = self.company()
        period, _ = self.pick(PERIODS)
        name = self.pick(metric.names)
        move = self.pick(("rise", "increase") if went_up else ("fall", "decrease"))
        p = self.pct(self.rng.uniform(1.5, 45))
        templates = (
            f"{_cap(_poss(co))} {name} {verb[0]} {change} {period}.",
            f"{_cap(period)}, {_poss(co)} {name} {verb[0]} {change}.",
            f"{_cap(co)} said its {name} {verb[0]} {change} {period}.",
            f"According to {co}, {name} {verb[0]} {change} {period}.",
            f"{_cap(name)} {verb[0]} {change} {period}, {co} said in a statement.",
            f"{_cap(co)} reported that its {name} had {verb[2]} {change} {period}.",
            f"{_cap(period)}, {name} {verb[0]} {change}, the company said.",
            f"{_cap(name)} {verb[0]} {change} {period}, according to the interim report.",
            f"{_cap(period)}, a {p} {move} in {name} was reported by {co}.",
            f"A {p} {move} in {name} was recorded {period}, {co} said on Thursday.",
        )
        return self.pick(templates)

    def _headline(
        self, metric: Metric, verb: tuple[str, str, str], went_up: bool, new_level: str
    ) -> str:
        co = self.company(generic_ok=False)
        _, qs = self.pick(PERIODS)
        name = self.pick(metric.short_names)
        p = self.pct(self.rng.uniform(2, 55))
        plain_dir = "up" if went_up else "down"
        templates = [
            f"{co} {qs} {name} {verb[1]} to {new_level}",
            f"{co} {qs} {name} {verb[1]} {p}",
            f"{co} {qs} {name} {verb[1]} to {new_level}, shares react",
            f"UPDATE 1-{co} {qs} {name} {verb[1]} to {new_level}",
        ]
        if verb not in (_NARROWED, _WIDENED, _IMPROVED, _WEAKENED):
            templates.append(f"{co} {qs} {name} {plain_dir} {p}")
            templates.append(f"{co} says {qs} {name} {plain_dir} {p} at {new_level}")
        return self.pick(templates)

    # ---- event sentences ----------------------------------------------------------------
    def event_sentence(self, sentiment: str) -> str:
        template: str = self.pick(EVENTS[sentiment])
        text = template.format(**self.slots())
        return _cap(text)

    def sentence(self, sentiment: str) -> str:
        # Neutral news is mostly events/descriptions; polar news is mostly reported figures.
        metric_share = 0.0 if sentiment == "neutral" else 0.55
        if self.rng.random() < metric_share:
            return self.metric_sentence(sentiment)
        return self.event_sentence(sentiment)


def news_style_examples(*, seed: int, n: int) -> list[tuple[str, str]]:
    """Return `n` deterministic (text, sentiment) news-style pairs for seed `seed`.

    Classes follow `CLASS_WEIGHTS` in expectation. Texts are unique while the grammar allows it;
    after many collisions duplicates are accepted rather than looping forever.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    builder = _Builder(rng)
    labels = list(CLASS_WEIGHTS)
    weights = list(CLASS_WEIGHTS.values())
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    attempts = 0
    while len(out) < n:
        sentiment = rng.choices(labels, weights)[0]
        # Redraw the text, not the label, on a collision so the class mix stays as weighted.
        text = builder.sentence(sentiment)
        while text in seen and attempts < 20 * n:
            attempts += 1
            text = builder.sentence(sentiment)
        seen.add(text)
        out.append((text, sentiment))
    return out


def main(argv: list[str] | None = None) -> None:
    """Print sampled examples as `label<TAB>text` for eyeballing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for text, sentiment in news_style_examples(seed=args.seed, n=args.n):
        print(f"{sentiment:<8}\t{text}")


if __name__ == "__main__":
    main()
