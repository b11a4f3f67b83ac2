"""The model table behind the browse screen: rows, filtering and sorting of catalogue models.

Pure Python (no Textual), built for typing speed: every row keeps its display cells, one lowercase
search key and one sort key per column, all computed once. A filter is then a substring test per
row, and a query that extends the previous one only narrows the previous result. Each sort order is
computed once and cached, so filtering keeps the chosen order without sorting again.

The GGUF column says where a model's GGUF files are (`GGUF_WORDS`); a row's search key holds
`gguf:yes`, `gguf:other` or `gguf:no`, so the filter narrows to each with the same words.

The Fits here column is the best quant for this machine with its size and speed
(`tui.core.models.recommend`). Probing the machine and reading the measured speeds takes longer
than a first frame, so an index starts without it and `with_fits` makes the index that has it;
its rows' search keys then hold `fits:yes`, `fits:no` or `fits:unknown`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.core.catalogue import Catalogue, Model
from tui.core.text import one_line

if TYPE_CHECKING:
    from tui.core.models.recommend import ModelFit

_RECENT = 64  # answers kept for queries typed a moment ago


@dataclass(frozen=True)
class Column:
    id: str
    title: str
    numeric: bool = False  # sorts biggest first when first chosen; unknown values always last
    right: bool = False  # right-aligned


COLUMNS: tuple[Column, ...] = (
    Column("name", "Name"),
    Column("organisation", "Organisation"),
    Column("size", "Size", numeric=True, right=True),
    Column("group", "Group"),
    Column("gguf", "GGUF"),
    Column("best", "Best score", numeric=True),
    Column("fits", "Fits here", numeric=True),  # sorts by expected speed, fastest first
)
COLUMN_IDS = tuple(column.id for column in COLUMNS)


def column(column_id: str) -> Column:
    for candidate in COLUMNS:
        if candidate.id == column_id:
            return candidate
    raise KeyError(f"no column {column_id!r} (known: {', '.join(COLUMN_IDS)})")


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: fast as a cache key
class ModelRow:
    model: Model
    cells: tuple[str, ...]  # display text per column, single-line and cleaned
    search: str  # lowercase: name, organisation, id, group id and name, licence
    keys: tuple[tuple, ...]  # sort key per column

    @property
    def id(self) -> str:
        return self.model.id


@dataclass(frozen=True)
class Sort:
    column: str = "name"
    descending: bool = False


# TheBloke's repository (the catalogue's `gguf.repo`), only other publishers' (`gguf.alternatives`),
# none known; in this order when sorted.
GGUF_WORDS = ("yes", "other", "no")


def gguf_word(model: Model) -> str:
    """What the GGUF column says for a model: one of `GGUF_WORDS`."""
    if model.gguf.available:
        return "yes"
    return "other" if model.gguf.alternatives else "no"


def smallest_chat_models(
    catalogue: Catalogue, count: int, exclude: frozenset[str] = frozenset()
) -> list[Model]:
    """Up to `count` chat models with a known size and a GGUF repository, smallest first (ties in
    catalogue order); a model with a repository in `exclude` (lowercase ids: those with files on this
    machine) is left out."""
    def repos(model: Model) -> set[str]:
        return {r.lower() for r in (model.gguf.repo, *model.gguf.alternatives) if r}

    candidates = [
        m for m in catalogue.models
        if m.kind == "chat" and m.params_b is not None and repos(m) and not repos(m) & exclude
    ]
    return sorted(candidates, key=lambda m: m.params_b)[:count]


def format_size(params_b: float | None) -> str:
    return "?" if params_b is None else f"{params_b:g}B"


class ModelIndex:
    """The catalogue's models as table rows; ``view()`` answers a filter + group + sort."""

    def __init__(
        self,
        catalogue: Catalogue,
        models: Iterable[Model] | None = None,
        fits: Mapping[str, ModelFit] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.models = tuple(catalogue.models if models is None else models)
        self.fits = fits
        groups = {group.id: group for group in catalogue.groups}
        group_order = {group_id: i for i, group_id in enumerate(groups)}
        board_order = {board.id: i for i, board in enumerate(catalogue.leaderboards)}
        rows = []
        for model in self.models:
            group = groups[model.group]
            best = catalogue.best_score(model.id)
            gguf = gguf_word(model)
            if best is None:
                best_cell, best_key = "", None
            else:
                board, value = best
                best_cell = f"{value!s:>6} {_short_board_name(board.name)}"  # values aligned
                # Scores of different leaderboards are on different scales: rank by board first
                # (catalogue order), then by score.
                best_key = (-board_order[board.id], value)
            found = fits.get(model.id) if fits is not None else None
            cells = (
                one_line(model.name),
                one_line(model.organisation or ""),
                format_size(model.params_b),
                one_line(group.name),
                gguf,
                best_cell,
                found.cell if found is not None else "",
            )
            search = " ".join(
                (model.name, model.organisation or "", model.id, group.id, group.name,
                 model.license or "", f"gguf:{gguf}", f"fits:{found.word}" if found else "")
            ).lower()
            rows.append(ModelRow(model, cells, search, (
                (cells[0].lower(), model.id),
                ((cells[1] or "\uffff").lower(), cells[0].lower()),
                model.params_b,
                (group_order[model.group], cells[0].lower()),
                (GGUF_WORDS.index(gguf), cells[0].lower()),
                best_key,
                found.speed.tokens_per_second if found is not None and found.speed else None,
            )))
        self.rows: tuple[ModelRow, ...] = tuple(rows)
        self._orders: dict[Sort, tuple[ModelRow, ...]] = {}
        self._last: tuple[str, str | None, Sort, list[ModelRow]] | None = None
        # Recent answers: deleting a character returns to a query answered a moment ago.
        self._recent: OrderedDict[tuple[str, str | None, Sort], list[ModelRow]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.rows)

    def with_fits(self, fits: Mapping[str, ModelFit]) -> ModelIndex:
        """The same models with the Fits here column filled in."""
        return ModelIndex(self.catalogue, self.models, fits)

    def ordered(self, sort: Sort) -> tuple[ModelRow, ...]:
        """All rows in the sort's order (stable: ties keep catalogue order), cached per sort."""
        if sort not in self._orders:
            numeric = column(sort.column).numeric
            index = COLUMN_IDS.index(sort.column)

            def key(row: ModelRow):
                value = row.keys[index]
                # Unknown sizes / no score go last whichever way the column is sorted.
                return ((value is None) != sort.descending, value) if numeric else value

            # A reversed sort keeps equal keys in their order too.
            self._orders[sort] = tuple(sorted(self.rows, key=key, reverse=sort.descending))
        return self._orders[sort]

    def view(self, query: str = "", group: str | None = None, sort: Sort = Sort()) -> list[ModelRow]:
        """Rows whose search key holds every word of ``query``, in ``group`` (None: all), sorted."""
        query = " ".join(query.lower().split())
        cached = self._recent.get((query, group, sort))
        if cached is not None:
            self._recent.move_to_end((query, group, sort))
            self._last = (query, group, sort, cached)
            return list(cached)
        terms = query.split()
        last = self._last
        if last is not None and last[1] == group and last[2] == sort and query.startswith(last[0]):
            # Typing on: every row of the previous answer holds every previous term, so only its
            # rows are tested, and only for the terms that are new (or longer).
            candidates: Sequence[ModelRow] = last[3]
            done = set(last[0].split())
            terms = [term for term in terms if term not in done]
        else:
            candidates = self.ordered(sort)
            if group is not None:
                candidates = [row for row in candidates if row.model.group == group]
        result = candidates
        for term in terms:  # one pass per term, each over what the previous one kept
            result = [row for row in result if term in row.search]
        if result is candidates:
            result = list(candidates)
        self._last = (query, group, sort, result)
        self._recent[(query, group, sort)] = result
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        return list(result)


def _short_board_name(name: str) -> str:
    """"Open LLM Leaderboard" -> "Open LLM", "OpenCompass 2.0" -> "OpenCompass" (for a cell)."""
    words = one_line(name).split()
    while len(words) > 1 and (words[-1] == "Leaderboard" or words[-1].replace(".", "").isdigit()):
        words.pop()
    return " ".join(words)
