"""The catalogue's typed objects: what ``catalogue.yaml`` becomes once validated.

Strings are kept exactly as written: nothing is sanitised. They are data, not markup; the UI renders
them as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from tui.core.errors import LlmtuiError

Number = int | float

KINDS = ("chat", "base", "code", "embedding")
EXPLANATION_SOURCES = ("page", "llmtui")
SCHEMA_VERSION = 1


# --------------------------------------------------------------------------------------------
# Errors


class CatalogueError(LlmtuiError):
    """A catalogue file that cannot be used. ``line`` is 1-based; ``line``/``field`` may be None."""

    def __init__(
        self, path: str | Path, message: str, *, line: int | None = None, field: str | None = None
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = str(self.path) if self.line is None else f"{self.path}:{self.line}"
        return ": ".join(part for part in (where, self.field, self.message) if part)

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working
        return partial(CatalogueError, line=self.line, field=self.field), (self.path, self.message)


# --------------------------------------------------------------------------------------------
# Domain objects


@dataclass(frozen=True)
class Source:
    """The page the catalogue was built from."""

    title: str
    date: str
    page: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class GgufSource:
    name: str
    url: str


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    description_en: str | None = None
    description_zh: str | None = None


@dataclass(frozen=True)
class GgufRef:
    """Where a GGUF build lives: ``repo`` (TheBloke), or None with a ``reason``."""

    repo: str | None = None
    reason: str | None = None
    alternatives: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return self.repo is not None


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    organisation: str | None
    group: str
    url: str
    kind: str
    listed_on_page: bool = False
    params_b: Number | None = None
    context_length: int | None = None
    license: str | None = None
    languages: tuple[str, ...] = ()
    prompt_format: str | None = None
    gguf: GgufRef = field(default_factory=GgufRef)
    unverified: tuple[str, ...] = ()  # fields whose value is not confirmed by a seen source
    notes: str | None = None

    def is_verified(self, field_name: str) -> bool:
        return field_name not in self.unverified


@dataclass(frozen=True)
class Metric:
    id: str
    name: str
    name_zh: str | None = None
    full_name: str | None = None
    explanation_en: str | None = None
    explanation_zh: str | None = None
    explanation_source: str | None = None  # "page" (the source page's words) or "llmtui"


@dataclass(frozen=True)
class LeaderboardRow:
    model: str  # a catalogue model id
    label: str  # the name exactly as the leaderboard table prints it
    scores: dict[str, Number] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Summary:
    """Numbered points about a leaderboard; ``models[i]`` is the model point i is about, or None."""

    zh: tuple[str, ...]
    en: tuple[str, ...]
    models: tuple[str | None, ...] = ()
    title_zh: str | None = None


@dataclass(frozen=True)
class Leaderboard:
    id: str
    name: str
    url: str
    group: str
    metrics: tuple[Metric, ...]
    rows: tuple[LeaderboardRow, ...]
    overall_metric: str  # the table's overall score ("average"); used by best_score
    title_zh: str | None = None
    summary: Summary | None = None

    def metric(self, metric_id: str) -> Metric:
        for metric in self.metrics:
            if metric.id == metric_id:
                return metric
        raise KeyError(f"leaderboard {self.id!r} has no metric {metric_id!r}")

    def row_for(self, model_id: str) -> LeaderboardRow | None:
        return next((row for row in self.rows if row.model == model_id), None)

    def ranked(self, metric_id: str | None = None) -> list[tuple[int, LeaderboardRow]]:
        """Rows that have a score for the metric, best first, as (rank, row).

        Higher is better. Equal scores share a rank and the next rank skips (1, 2, 2, 4); among
        equal scores the table's order is kept. ``metric_id`` defaults to the overall metric.
        """
        metric_id = metric_id or self.overall_metric
        self.metric(metric_id)
        scored = [row for row in self.rows if metric_id in row.scores]
        scored.sort(key=lambda row: -row.scores[metric_id])  # stable: ties keep table order
        ranked: list[tuple[int, LeaderboardRow]] = []
        for position, row in enumerate(scored, start=1):
            if ranked and row.scores[metric_id] == ranked[-1][1].scores[metric_id]:
                ranked.append((ranked[-1][0], row))
            else:
                ranked.append((position, row))
        return ranked

    def rank_of(self, model_id: str, metric_id: str | None = None) -> int | None:
        return next((rank for rank, row in self.ranked(metric_id) if row.model == model_id), None)


@dataclass(frozen=True)
class LinkedLeaderboard:
    """A leaderboard the page links to; ``table`` is the id of the Leaderboard copied from it."""

    id: str
    name: str
    url: str
    group: str
    measures: str
    table: str | None = None


@dataclass(frozen=True)
class Catalogue:
    version: int
    source: Source
    gguf_sources: tuple[GgufSource, ...]
    groups: tuple[Group, ...]
    models: tuple[Model, ...]
    leaderboards: tuple[Leaderboard, ...]
    linked_leaderboards: tuple[LinkedLeaderboard, ...]
    path: Path
    overlay_path: Path | None = None
    _by_id: dict[str, Model] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {m.id: m for m in self.models})

    def model(self, model_id: str) -> Model | None:
        return self._by_id.get(model_id)

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.id == group_id), None)

    def leaderboard(self, leaderboard_id: str) -> Leaderboard | None:
        return next((lb for lb in self.leaderboards if lb.id == leaderboard_id), None)

    def group_counts(self) -> dict[str, int]:
        """Number of models per group id, in group order (groups without models count 0)."""
        counts = {g.id: 0 for g in self.groups}
        for m in self.models:
            counts[m.group] += 1
        return counts

    def scores_for(self, model_id: str) -> list[tuple[Leaderboard, Metric, Number, int]]:
        """Every score the model has: (leaderboard, metric, value, rank among that table's rows)."""
        return [
            (board, metric, row.scores[metric.id], board.rank_of(model_id, metric.id))
            for board in self.leaderboards
            if (row := board.row_for(model_id)) is not None
            for metric in board.metrics
            if metric.id in row.scores
        ]

    def best_score(self, model_id: str) -> tuple[Leaderboard, Number] | None:
        """The model's headline score, or None.

        It is the value of ``overall_metric`` (Open LLM: ``average``; OpenCompass: ``average``,
        均分) on the first leaderboard, in catalogue order, that has a row for the model with that
        score. Scores from different leaderboards use different scales, so they are never compared.
        """
        for board in self.leaderboards:
            row = board.row_for(model_id)
            if row is not None and board.overall_metric in row.scores:
                return board, row.scores[board.overall_metric]
        return None
