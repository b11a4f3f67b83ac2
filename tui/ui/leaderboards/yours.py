"""The "Yours" leaderboard tab: your blind votes ranked, beside the public leaderboards.

A table of Bradley-Terry ratings (tui.core.compare.ranking) with their 95% intervals and records,
each row linked to its catalogue model where it is one and that model's public rank; a chart of
the ratings with their intervals; then what the comparisons measured: pass rates per prompt set
(with Wilson intervals) and speed and peak memory on this machine. The ranking is computed in a
thread (the bootstrap takes a moment) each time the tab is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from tui.core.compare.ranking import Leaderboard, Rating
from tui.core.text import one_line
from tui.ui.common.workers import ReportsWorkerFailures
from tui.ui.leaderboards.barchart import IntervalBar, IntervalChart
from tui.ui.leaderboards.sorted_table import SortedTable


@dataclass(frozen=True)
class YourRow:
    place: int
    rating: Rating
    model_id: str | None  # the catalogue model, if it is one
    public: tuple[str, int, int] | None  # (leaderboard, rank, of) of that model


# column key -> (header, sort key, first direction is descending)
SORTS = {
    "place": ("#", lambda r: r.place, False),
    "model": ("Model", lambda r: r.rating.model.lower(), False),
    "rating": ("Rating", lambda r: r.rating.rating, True),
    "interval": ("95% interval", lambda r: r.rating.ci_high - r.rating.ci_low, False),
    "games": ("Games", lambda r: r.rating.games, True),
    "wins": ("Wins", lambda r: r.rating.wins, True),
    "losses": ("Losses", lambda r: r.rating.losses, True),
    "ties": ("Ties", lambda r: r.rating.ties, True),
    "catalogue": ("Catalogue model", lambda r: (r.model_id is None, (r.model_id or "").lower()), False),
    "public": ("Public rank", lambda r: (r.public is None, r.public[1] if r.public else 0), False),
}  # fmt: skip


class RankingTable(SortedTable):
    """Your ratings; sortable by every column (s, or click a header); enter shows the model."""

    HELP_TITLE = "Your leaderboard"
    BINDINGS = [
        Binding("enter", "show_model", "Show model", id="yours.show_model",
                tooltip="Show the row's model in the catalogue"),
        Binding("s", "sort_column", "Sort", id="yours.sort", tooltip="Sort by the column under the cursor"),
    ]  # fmt: skip

    def __init__(self, **kwargs) -> None:
        super().__init__("rating", **kwargs)
        self.entries: list[YourRow] = []

    def show(self, rows: list[YourRow]) -> None:
        self.entries = rows
        self.fill()

    def first_descending(self, column: str) -> bool:
        return SORTS[column][2]

    def in_order(self) -> list[YourRow]:
        return sorted(self.entries, key=SORTS[self.sort_column][1], reverse=self.descending)

    def add_sorted_rows(self) -> None:
        for name, (header, _key, _first) in SORTS.items():
            self.add_column(Text.assemble(header, (self.arrow(name), "bold")), key=name)
        for row in self.rows_in_order:
            r = row.rating
            public = "–"
            if row.public:
                board, place, of = row.public
                public = f"#{place} of {of}, {one_line(board, 30)}"
            cells = [
                Text(str(row.place), justify="right"),
                Text(one_line(r.model, 60), no_wrap=True, overflow="ellipsis"),
                Text(f"{r.rating:.0f}", justify="right", style="bold"),
                Text(f"{r.ci_low:.0f} to {r.ci_high:.0f}", justify="right"),
                *(Text(str(n), justify="right") for n in (r.games, r.wins, r.losses, r.ties)),
                Text(one_line(row.model_id or "–", 60), style="" if row.model_id else "dim"),
                Text(public, style="" if row.public else "dim"),
            ]
            self.add_row(*cells)

    def action_show_model(self) -> None:
        row = self.current_row
        if row is None:
            return
        if row.model_id is None:
            self.notify(f"{one_line(row.rating.model)} is not in the catalogue", markup=False)
            return
        self.app.open_job("browse", row.model_id)


def _percent(x: float) -> str:
    return f"{100 * x:.0f}%"


class YoursView(ReportsWorkerFailures, VerticalScroll):
    """The tab: summary, ranking table, interval chart, pass rates, speed here."""

    @dataclass
    class Computed(Message):
        board: Leaderboard | None
        rows: list[YourRow]
        error: str = ""

    def __init__(self) -> None:
        super().__init__(classes="yours-view")
        self.board: Leaderboard | None = None

    def compose(self) -> ComposeResult:
        yield Static(Content("Counting your votes…"), id="yours-summary", classes="board-pane")
        yield RankingTable(id="yours-table", classes="board-pane")
        yield IntervalChart(id="yours-chart", classes="board-pane")
        yield DataTable(id="yours-pass-rates", classes="board-pane", zebra_stripes=True,
                        cursor_type="row")  # fmt: skip
        yield DataTable(id="yours-speeds", classes="board-pane", zebra_stripes=True,
                        cursor_type="row")  # fmt: skip

    def on_mount(self) -> None:
        titles = {"#yours-summary": "Your leaderboard", "#yours-table": "Ratings",
                  "#yours-chart": "Rating and 95% interval",
                  "#yours-pass-rates": "Prompt sets: pass rate and 95% interval",
                  "#yours-speeds": "Measured on this machine"}  # fmt: skip
        for selector, title in titles.items():
            self.query_one(selector).border_title = title

    @property
    def table(self) -> RankingTable:
        return self.query_one(RankingTable)

    @work(thread=True, exclusive=True, group="yours", exit_on_error=False)
    def recompute(self) -> None:
        """Rank every vote again (a thread: the bootstrap refits hundreds of times)."""
        import sqlite3

        from tui.core.compare import votes
        from tui.core.compare.store import CompareStore
        from tui.core.storage import StorageError

        catalogue = self.app.catalogue
        try:
            board = votes.leaderboard(CompareStore(self.app.context.paths.database))
        except (sqlite3.Error, StorageError) as error:
            self.post_message(self.Computed(None, [], f"cannot read your votes: {error}"))
            return
        rows = []
        for place, rating in enumerate(board.ratings, start=1):
            model_id = votes.catalogue_model(rating.model, board.specs.get(rating.model), catalogue)
            public = votes.public_rank(model_id, catalogue) if model_id else None
            rows.append(YourRow(place, rating, model_id, public))
        self.post_message(self.Computed(board, rows))

    @on(Computed)
    def _computed(self, message: Computed) -> None:
        summary = self.query_one("#yours-summary", Static)
        if message.board is None:
            summary.update(Content(one_line(message.error, 300)))
            self.notify(one_line(message.error, 300), severity="error", markup=False)
            return
        self.board = board = message.board
        if board.ratings:
            text = (
                f"{len(board.ratings)} models from {board.battles} battles: {board.local_votes} "
                f"blind vote(s) here, {board.imported} imported. Bradley-Terry ratings on the Elo "
                "scale (400 points = 10:1 odds, mean 1000), 95% intervals by bootstrap; a tie is "
                "half a win for each. Only a blind comparison's first vote counts."
            )
        else:
            text = (
                "No votes yet. In Compare (5), tick Blind, run a prompt and vote (a/b/c/d, t, x); "
                "ctrl+n there proposes the pair to judge next. `llmtui votes import FILE` loads "
                "battles in Chatbot Arena's format."
            )
        summary.update(Content(text))
        self.table.show(message.rows)
        self.update_focus()
        self._show_pass_rates(board)
        self._show_speeds(board)

    @on(DataTable.CellHighlighted, "#yours-table")
    def update_focus(self) -> None:
        row = self.table.current_row
        items = [
            IntervalBar(r.model, one_line(r.model, 60), r.rating,
                        f"{r.rating:.0f} ({r.ci_low:.0f}-{r.ci_high:.0f})", r.ci_low, r.ci_high)
            for r in (self.board.ratings if self.board else ())
        ]  # fmt: skip
        self.query_one(IntervalChart).plot(
            "Rating (█ to the interval, ▒ the 95% interval, ● the rating)", items,
            marked=row.rating.model if row else None,
        )  # fmt: skip

    def _fill(self, table_id: str, headers: tuple[str, ...], rows: list[tuple[Text, ...]]) -> None:
        """Replace a table's columns and rows; a table without rows is hidden."""
        table = self.query_one(table_id, DataTable)
        table.clear(columns=True)
        table.display = bool(rows)
        table.add_columns(*headers)
        table.add_rows(rows)

    def _show_pass_rates(self, board: Leaderboard) -> None:
        self._fill("#yours-pass-rates", ("Prompt set", "Model", "Passed", "Rate", "95% interval"), [
            (
                Text(one_line(Path(r.prompt_set).name, 40)),
                Text(one_line(r.model, 60)),
                Text(f"{r.passed}/{r.checked}", justify="right"),
                Text(_percent(r.rate), justify="right", style="bold"),
                Text(f"{_percent(r.low)} to {_percent(r.high)}", justify="right"),
            )
            for r in board.pass_rates
        ])

    def _show_speeds(self, board: Leaderboard) -> None:
        from tui.core.models.fit import human_bytes

        self._fill("#yours-speeds", ("Model", "Answers", "Tokens/s", "First token", "Peak memory"), [
            (
                Text(one_line(s.model, 60)),
                Text(str(s.answers), justify="right"),
                Text("–" if s.tokens_per_second is None else f"{s.tokens_per_second:.1f}",
                     justify="right", style="bold"),
                Text("–" if s.time_to_first_token is None else f"{s.time_to_first_token:.2f} s",
                     justify="right"),
                Text("–" if s.peak_rss is None else human_bytes(s.peak_rss), justify="right"),
            )
            for s in board.speeds
        ])  # fmt: skip
