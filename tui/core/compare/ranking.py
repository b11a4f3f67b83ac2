"""Your leaderboard: Bradley-Terry ratings from pairwise votes, and what was measured per model.

Ratings are on the Elo scale (400 points = 10:1 odds) with the mean rating at 1000. A tie counts
half a win for each side, as Chatbot Arena's published ratings do. The fit maximises the
likelihood by Newton's method with a line search (the log-likelihood is concave), with a weak prior:
every model also plays one virtual tie against an average player. The prior keeps a model that won
(or lost) every game at a finite rating and joins models no vote connects; with a few dozen games
per model its pull is a few points. The 95% intervals come from a seeded bootstrap: the battles
are resampled with replacement and refitted, and the 2.5th and 97.5th percentiles are kept.

Prompt-set pass rates carry Wilson score intervals; speed and memory are the medians and peaks of
what the comparisons measured.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
SCALE = 400 / math.log(10)  # natural-log strength -> Elo points
CENTRE = 1000.0
Z95 = 1.959963984540054
PRIOR_GAMES = 1.0  # virtual ties against an average player, per model
BOOTSTRAP_ROUNDS = 500
SEED = 0


@dataclass(frozen=True)
class Battle:
    """One pairwise judgement, in Chatbot Arena's terms."""

    model_a: str
    model_b: str
    winner: str  # one of WINNERS

    @property
    def score_a(self) -> float:
        """model_a's share of the win: 1, 0 or 1/2 for either kind of tie."""
        return {"model_a": 1.0, "model_b": 0.0}.get(self.winner, 0.5)


@dataclass(frozen=True)
class Rating:
    model: str
    rating: float
    ci_low: float
    ci_high: float
    games: int
    wins: int
    losses: int
    ties: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Pairs:
    """Battles aggregated per unordered pair of models (numpy arrays, one entry per pair)."""

    names: tuple[str, ...]
    first: Any  # model indices, first < second
    second: Any
    outcomes: Any  # (pairs, 3): the first model's wins, its losses, ties


def _aggregate(battles: Iterable[Battle]) -> _Pairs:
    import numpy as np

    names: dict[str, int] = {}
    tally: dict[tuple[int, int], list[int]] = {}
    for battle in battles:
        if battle.model_a == battle.model_b:
            continue  # a model against itself says nothing about the order
        a = names.setdefault(battle.model_a, len(names))
        b = names.setdefault(battle.model_b, len(names))
        score = battle.score_a if a < b else 1.0 - battle.score_a
        tally.setdefault((min(a, b), max(a, b)), [0, 0, 0])[{1.0: 0, 0.0: 1}.get(score, 2)] += 1
    keys = list(tally)
    return _Pairs(
        names=tuple(names),
        first=np.array([k[0] for k in keys], dtype=np.intp),
        second=np.array([k[1] for k in keys], dtype=np.intp),
        outcomes=np.array([tally[k] for k in keys], dtype=float).reshape(-1, 3),
    )


def _fit(pairs: _Pairs, outcomes, prior: float, start=None):
    """Natural-log strengths maximising the likelihood, for each of R resamples at once.

    `outcomes`: (R, pairs, 3) counts; returns (R, models). Newton's method on all R fits together
    (one batched linear solve per step, not R small ones), each with its own step halving."""
    import numpy as np

    rounds, n = outcomes.shape[0], len(pairs.names)
    i, j = pairs.first, pairs.second
    wins = outcomes[..., 0] + 0.5 * outcomes[..., 2]  # a tie is half a win for each side
    games = outcomes.sum(axis=-1)
    theta = np.zeros((rounds, n)) if start is None else np.array(np.broadcast_to(start, (rounds, n)))

    def objective(t, rows=slice(None)):
        d = t[:, i] - t[:, j]
        # log sigma(x) = -log(1 + e^-x), computed stably; each model's virtual tie adds
        # (log sigma(t) + log sigma(-t)) / 2
        w, g = wins[rows], games[rows]
        ll = -(w * np.logaddexp(0, -d) + (g - w) * np.logaddexp(0, d)).sum(axis=1)
        return ll - 0.5 * prior * (np.logaddexp(0, -t) + np.logaddexp(0, t)).sum(axis=1)

    value = objective(theta)
    active = np.ones(rounds, dtype=bool)
    diagonal = np.arange(n)
    for _ in range(100):
        d = theta[:, i] - theta[:, j]
        p = 1 / (1 + np.exp(-d))  # P(first beats second)
        residual = wins - games * p
        q = 1 / (1 + np.exp(-theta))
        gradient = prior * (0.5 - q)
        np.add.at(gradient.T, i, residual.T)
        np.add.at(gradient.T, j, -residual.T)
        weight = games * p * (1 - p)
        hessian = np.zeros((rounds, n, n))
        hessian[:, i, j] = -weight  # pairs are unique: plain assignment
        hessian[:, j, i] = -weight
        hessian[:, diagonal, diagonal] = -hessian.sum(axis=2) + prior * q * (1 - q)
        if prior > 0:
            step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        else:  # no prior: ratings are defined up to a constant, the Hessian is singular
            step = (np.linalg.pinv(hessian, hermitian=True) @ gradient[..., None])[..., 0]
        step[~active] = 0
        size = np.ones(rounds)
        candidate, new_value = theta + step, objective(theta + step)
        for _halving in range(30):  # halve each fit's step until its likelihood does not fall
            worse = new_value < value - 1e-12
            if not worse.any():
                break
            size[worse] /= 2
            candidate[worse] = theta[worse] + size[worse, None] * step[worse]
            new_value[worse] = objective(candidate[worse], worse)
        moved = ~(new_value < value - 1e-12)
        theta[moved], value[moved] = candidate[moved], new_value[moved]
        active &= moved & (np.abs(size[:, None] * step).max(axis=1) >= 1e-9)
        if not active.any():
            break
    return theta


def _elo(theta):
    return CENTRE + SCALE * (theta - theta.mean(axis=-1, keepdims=True))


def rank(
    battles: Iterable[Battle],
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = SEED,
    prior: float = PRIOR_GAMES,
) -> list[Rating]:
    """Ratings with bootstrap 95% intervals and each model's record, best first."""
    import numpy as np

    pairs = _aggregate(battles)
    if not pairs.names:
        return []
    point = _fit(pairs, pairs.outcomes[None], prior)[0]
    ratings = _elo(point)
    low, high = ratings, ratings
    if rounds:
        # Resampling the battles with replacement = a multinomial draw over (pair, outcome).
        flat = pairs.outcomes.ravel()
        total = int(flat.sum())
        rng = np.random.default_rng(seed)
        samples = []
        batch = max(1, 20_000_000 // (8 * len(pairs.names) ** 2))  # Hessians of ~20 MB at once
        for done in range(0, rounds, batch):
            counts = rng.multinomial(total, flat / total, size=min(batch, rounds - done))
            resampled = counts.reshape(-1, *pairs.outcomes.shape).astype(float)
            samples.append(_elo(_fit(pairs, resampled, prior, start=point)))
        low, high = np.percentile(np.concatenate(samples), [2.5, 97.5], axis=0)
    # Each model's wins, losses and ties: the first model's of each pair, the second's swapped.
    record = np.zeros((len(pairs.names), 3), dtype=int)
    np.add.at(record, pairs.first, pairs.outcomes.astype(int))
    np.add.at(record, pairs.second, pairs.outcomes[:, [1, 0, 2]].astype(int))
    result = [
        Rating(name, float(ratings[k]), float(low[k]), float(high[k]), sum(counts), *counts)
        for k, (name, counts) in enumerate(zip(pairs.names, record.tolist(), strict=True))
    ]
    return sorted(result, key=lambda r: (-r.rating, r.model))


# --- judging where it matters ----------------------------------------------------------------------


def pair_games(battles: Iterable[Battle]) -> Counter[frozenset[str]]:
    """How many times each pair of models met."""
    return Counter(frozenset((b.model_a, b.model_b)) for b in battles if b.model_a != b.model_b)


def least_certain_pair(
    candidates: Sequence[str], ratings: Sequence[Rating], battles: Iterable[Battle]
) -> tuple[str, str] | None:
    """The two candidates whose order the votes settle least.

    Pairs whose intervals overlap come first, among them those that met least often, then those
    whose ratings are closest in standard errors. A model with no rating overlaps everything.
    """
    by_name = {r.model: r for r in ratings}
    games = pair_games(battles)
    best: tuple | None = None
    for x, a in enumerate(candidates):
        for b in candidates[x + 1 :]:
            ra, rb = by_name.get(a), by_name.get(b)
            if ra is None or rb is None:
                overlap, distance = True, 0.0
            else:
                overlap = ra.ci_low <= rb.ci_high and rb.ci_low <= ra.ci_high
                spread = math.hypot(ra.ci_high - ra.ci_low, rb.ci_high - rb.ci_low) / (2 * Z95)
                distance = abs(ra.rating - rb.rating) / spread if spread else math.inf
            key = (not overlap, games[frozenset((a, b))], distance)
            if best is None or key < best[0]:
                best = (key, (a, b))
    return None if best is None else best[1]


# --- what was measured ---------------------------------------------------------------------------


def wilson(passed: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a pass rate (0..1)."""
    if total == 0:
        return 0.0, 1.0
    rate = passed / total
    denominator = 1 + z * z / total
    centre = (rate + z * z / (2 * total)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class PassRate:
    model: str
    prompt_set: str
    passed: int
    checked: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.passed / self.checked if self.checked else 0.0


def pass_rates(results: Iterable[tuple[str, str, bool]]) -> list[PassRate]:
    """(model, prompt set, passed) per checked answer -> a pass rate per model and set."""
    tally: dict[tuple[str, str], list[int]] = {}
    for model, prompt_set, passed in results:
        entry = tally.setdefault((prompt_set, model), [0, 0])
        entry[0] += int(passed)
        entry[1] += 1
    rates = [
        PassRate(model, prompt_set, passed, checked, *wilson(passed, checked))
        for (prompt_set, model), (passed, checked) in tally.items()
    ]
    return sorted(rates, key=lambda r: (r.prompt_set, -r.rate, -r.checked, r.model))


@dataclass(frozen=True)
class Measurement:
    """One model's answer as a comparison measured it on this machine."""

    model: str
    tokens_per_second: float | None = None
    time_to_first_token: float | None = None
    peak_rss: int | None = None


@dataclass(frozen=True)
class Speed:
    model: str
    answers: int  # answers with a measured speed
    tokens_per_second: float | None  # median
    time_to_first_token: float | None  # median, seconds
    peak_rss: int | None  # the highest seen, bytes


def speeds(measurements: Iterable[Measurement]) -> list[Speed]:
    """Per model: the median speed and time to first token, the peak memory. Fastest first."""
    grouped: dict[str, list[Measurement]] = {}
    for m in measurements:
        grouped.setdefault(m.model, []).append(m)

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    result = []
    for model, items in grouped.items():
        tps = [m.tokens_per_second for m in items if m.tokens_per_second is not None]
        peaks = [m.peak_rss for m in items if m.peak_rss is not None]
        ttft = [m.time_to_first_token for m in items if m.time_to_first_token is not None]
        if not (tps or peaks or ttft):
            continue  # nothing measured (answers kept without their stats)
        result.append(Speed(model, len(tps), median(tps), median(ttft), max(peaks, default=None)))
    return sorted(result, key=lambda s: (s.tokens_per_second is None, -(s.tokens_per_second or 0)))


@dataclass(frozen=True)
class Leaderboard:
    """Everything the "Yours" tab and `llmtui rank` show."""

    ratings: list[Rating]
    battles: int  # counted in the ratings
    local_votes: int  # blind votes from this machine's comparisons
    imported: int  # battles imported from files
    pass_rates: list[PassRate] = field(default_factory=list)
    speeds: list[Speed] = field(default_factory=list)
    specs: Mapping[str, str] = field(default_factory=dict)  # model -> the spec that last ran it
