"""Leaderboards: one tab per leaderboard table, yours (tui.ui.leaderboards.yours), and a tab of the
leaderboards the page links to.

Each table tab: the table (sortable by every column, best value per column highlighted), the
explanation of the metric under the cursor in Chinese and English, a bar chart of that metric across
the table's models, and the page's summary. Enter on a row shows the model in the catalogue ("back"
there returns here, to the same row).
"""

from __future__ import annotations

from functools import partial

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Header, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from tui.core.catalogue import Leaderboard, LeaderboardRow, LinkedLeaderboard, Metric
from tui.core.text import clean, one_line
from tui.ui.common.commands import PaletteCommand
from tui.ui.common.keys import KeyFooter
from tui.ui.leaderboards.barchart import Bar, BarChart
from tui.ui.leaderboards.sorted_table import SortedTable
from tui.ui.leaderboards.yours import SORTS, RankingTable, YoursView

LABEL = "model"  # the column key of the model-name column


class LeaderboardTable(SortedTable):
    """A leaderboard's rows; the best value of each metric column uses the `--best` style."""

    HELP_TITLE = "Leaderboard table"
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {"leaderboard-table--best"}
    BINDINGS = [
        Binding("enter", "show_model", "Show model", id="leaderboards.show_model",
                tooltip="Show the row's model in the catalogue"),
        Binding("s", "sort_column", "Sort", tooltip="Sort by the column under the cursor",
                id="leaderboards.sort"),
    ]

    def __init__(self, board: Leaderboard, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(board.overall_metric, id=id, classes=classes, header_height=2)
        self.board = board
        self._label_width = 0

    @property
    def metric(self) -> Metric | None:
        """The metric under the cursor (None on the model column)."""
        column = self.cursor_column - 1
        return self.board.metrics[column] if 0 <= column < len(self.board.metrics) else None

    def on_mount(self) -> None:
        self.fill()
        self.move_cursor(column=1 + [m.id for m in self.board.metrics].index(self.board.overall_metric))
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.fill())

    def first_descending(self, column: str) -> bool:
        return column != LABEL  # the scores best first, the names from A

    def in_order(self) -> list[LeaderboardRow]:
        rows, metric = self.board.rows, self.sort_column
        if metric == LABEL:
            return sorted(rows, key=lambda r: r.label.lower(), reverse=self.descending)
        scored = [r for r in rows if metric in r.scores]
        scored.sort(key=lambda r: r.scores[metric], reverse=self.descending)
        return scored + [r for r in rows if metric not in r.scores]  # unscored last either way

    def add_sorted_rows(self) -> None:
        board = self.board
        best_values = {
            m.id: max((r.scores[m.id] for r in board.rows if m.id in r.scores), default=None)
            for m in board.metrics
        }
        best_style = self.get_component_rich_style("leaderboard-table--best", partial=True)
        self._label_width = self._label_cap()
        longest = max((cell_len(one_line(r.label, limit=60)) for r in board.rows), default=5)
        self.add_column(self._header("Model", "模型", LABEL), key=LABEL,
                        width=min(longest, self._label_width))
        for m in board.metrics:
            self.add_column(self._header(m.name, m.name_zh or "", m.id), key=m.id)
        for row in self.rows_in_order:
            cells = [Text(one_line(row.label, limit=60), no_wrap=True, overflow="ellipsis")]
            for m in board.metrics:
                value = row.scores.get(m.id)
                if value is None:
                    cells.append(Text("–", style="dim", justify="right"))
                else:
                    best = value == best_values[m.id]
                    cells.append(Text(str(value), style=best_style if best else "", justify="right"))
            self.add_row(*cells, key=row.model)

    def _label_cap(self) -> int:
        """The model column's width: long labels are cut on narrow terminals so the scores show."""
        return 22 if self.app.size.width < 100 else 44

    def on_resize(self) -> None:
        if self._label_cap() != self._label_width:
            self.fill()

    def _header(self, name: str, name_zh: str, column: str) -> Text:
        # Rich Text, not a str: DataTable would parse a str label as markup.
        return Text.assemble(one_line(name), (self.arrow(column), "bold"), "\n", (one_line(name_zh), "dim"))

    def action_show_model(self) -> None:
        row = self.current_row
        if row is not None:
            self.app.open_job("browse", row.model)


def describe_metric(board: Leaderboard, metric: Metric | None, row: LeaderboardRow | None) -> Content:
    """The explanation beside the table: the metric under the cursor, in Chinese and English."""
    if metric is None:
        lines = [Content.styled("Model 模型", "bold $accent"),
                 Content("The model as the leaderboard names it. Enter shows it in the catalogue.")]
        if row is not None:
            lines += [Content(""), Content(one_line(row.label)),
                      Content.styled(f"catalogue: {one_line(row.model)}", "$text-muted")]
        return Content("\n").join(lines)
    title = one_line(metric.name)
    if metric.full_name:
        title += f" ({one_line(metric.full_name)})"
    if metric.name_zh:
        title += f" {one_line(metric.name_zh)}"
    lines = [Content.styled(title, "bold $accent")]
    if metric.explanation_zh:
        lines += [Content(""), Content(clean(metric.explanation_zh))]
    if metric.explanation_en:
        lines += [Content(""), Content(clean(metric.explanation_en))]
    if not (metric.explanation_zh or metric.explanation_en):
        lines.append(Content.styled("No explanation in the catalogue.", "$text-muted"))
    source = {
        "page": "Chinese text from the catalogue page; English translation by llmtui.",
        "llmtui": "Written by llmtui (the page explains no metrics of this table).",
    }.get(metric.explanation_source or "")
    if source:
        lines += [Content(""), Content.styled(source, "italic $text-muted")]
    return Content("\n").join(lines)


def describe_summary(board: Leaderboard) -> Content:
    summary = board.summary
    if summary is None:
        return Content.styled("The page gives no summary for this table.", "$text-muted")
    lines = [Content.styled(f"{one_line(summary.title_zh or '总结')} Summary", "bold $accent")]
    for number, (zh, en) in enumerate(zip(summary.zh, summary.en, strict=True), start=1):
        zh_first, _, _ = zh.partition("\n")
        en_first, _, en_rest = en.partition("\n")
        if en_rest and en_first == zh_first:  # both start with the model's name: show it once
            en = en_rest
        lines += [
            Content(""),
            Content.assemble((f"{number}. ", "bold"), Content(clean(zh))),
            Content.styled(clean(en), "$text-muted"),
        ]
    return Content("\n").join(lines)


class LeaderboardView(VerticalScroll):
    """One leaderboard tab: table, metric explanation, bar chart, summary (arranged by CSS)."""

    def __init__(self, board: Leaderboard) -> None:
        super().__init__(classes="leaderboard-view")
        self.board = board

    def compose(self) -> ComposeResult:
        # "board-pane": a class for the framed parts (see leaderboards.tcss).
        yield LeaderboardTable(self.board, id=f"table-{self.board.id}", classes="board-pane")
        yield Static(classes="metric-explanation board-pane")
        yield BarChart(classes="metric-chart board-pane")
        yield Static(describe_summary(self.board), classes="summary board-pane")

    @property
    def table(self) -> LeaderboardTable:
        return self.query_one(LeaderboardTable)

    def on_mount(self) -> None:
        self.query_one(".metric-explanation").border_title = "Metric"
        self.query_one(BarChart).border_title = "Chart"
        self.query_one(".summary").border_title = "Summary"
        self.update_focus()

    @on(DataTable.CellHighlighted)
    def update_focus(self) -> None:
        """Explanation and chart follow the cursor's column; the chart marks the cursor's model."""
        table = self.table
        metric, row = table.metric, table.current_row
        self.query_one(".metric-explanation", Static).update(describe_metric(self.board, metric, row))
        shown = metric or self.board.metric(self.board.overall_metric)
        bars = [
            Bar(r.model, one_line(r.label, limit=60), float(r.scores[shown.id]), str(r.scores[shown.id]))
            for r in self.board.rows
            if shown.id in r.scores
        ]
        title = one_line(shown.name) + (f" {one_line(shown.name_zh)}" if shown.name_zh else "")
        self.query_one(BarChart).plot(title, bars, marked=row.model if row else None)


def _linked_option(linked: LinkedLeaderboard, tables: dict[str, str]) -> Option:
    url = one_line(linked.url, limit=500)
    parts = [
        Content.styled(one_line(linked.name), "bold"),
        Content.styled(url, "$text-primary underline"),
        Content(clean(linked.measures)),
    ]
    if linked.table in tables:
        parts.append(Content.styled(f"Its table is in the tab “{tables[linked.table]}”.",
                                    "italic $text-muted"))
    return Option(Content("\n").join(parts), id=linked.id)


class LeaderboardsScreen(Screen):
    CSS_PATH = "leaderboards.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal"), (150, "-wide")]
    HELP_TITLE = "Leaderboards"
    BINDINGS = [
        Binding("o", "open_url", "Open in browser",
                tooltip="Open the leaderboard (or the chosen linked one) in the browser",
                id="leaderboards.open"),
        Binding("right_square_bracket", "tab(1)", "Next tab", id="leaderboards.next_tab"),
        Binding("left_square_bracket", "tab(-1)", "Previous tab", show=False, id="leaderboards.previous_tab"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.catalogue = self.app.catalogue

    def compose(self) -> ComposeResult:
        tables = {board.id: one_line(board.name) for board in self.catalogue.leaderboards}
        yield Header()
        with TabbedContent(id="leaderboard-tabs"):
            for board in self.catalogue.leaderboards:
                with TabPane(Content(one_line(board.name)), id=f"board-{board.id}"):
                    yield LeaderboardView(board)
            with TabPane(Content("Yours"), id="yours"):
                yield YoursView()
            with TabPane(Content("Linked leaderboards"), id="linked"):
                options: list[Option | None] = []
                for linked in self.catalogue.linked_leaderboards:
                    options += [_linked_option(linked, tables), None]  # None: a separator
                yield OptionList(*options[:-1], id="linked-list")
        yield KeyFooter()

    # ---------------------------------------------------------------- state

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    @property
    def current_view(self) -> LeaderboardView | None:
        pane = self.tabs.active_pane
        views = pane.query(LeaderboardView) if pane is not None else ()
        return views.first() if views else None

    def show_tab(self, pane_id: str) -> None:
        self.tabs.active = pane_id

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        focus = event.pane.query("LeaderboardTable, RankingTable, #linked-list")
        if focus:
            focus.first().focus()
        if event.pane.id == "yours":
            self.query_one(YoursView).recompute()  # votes cast since it was last shown count

    def on_screen_resume(self) -> None:
        if self.tabs.active == "yours":
            self.query_one(YoursView).recompute()

    def action_tab(self, step: int) -> None:
        panes = [pane.id for pane in self.tabs.query(TabPane)]
        index = panes.index(self.tabs.active) if self.tabs.active in panes else 0
        self.show_tab(panes[(index + step) % len(panes)])

    def action_open_url(self) -> None:
        view = self.current_view
        if view is not None:
            self.app.open_url(one_line(view.board.url, limit=500))
            return
        if self.tabs.active == "yours":
            self.notify("Your leaderboard lives here only: `llmtui votes export FILE` shares it")
            return
        linked_list = self.query_one("#linked-list", OptionList)
        if linked_list.highlighted is not None:
            self.open_linked(linked_list.get_option_at_index(linked_list.highlighted).id)

    def open_linked(self, linked_id: str | None) -> None:
        for linked in self.catalogue.linked_leaderboards:
            if linked.id == linked_id:
                self.app.open_url(one_line(linked.url, limit=500))

    @on(OptionList.OptionSelected, "#linked-list")
    def _linked_selected(self, event: OptionList.OptionSelected) -> None:
        self.open_linked(event.option_id)

    def palette_commands(self) -> list[PaletteCommand]:
        """Show each tab; sort the shown table by each of its columns."""
        tabs = [(f"board-{board.id}", one_line(board.name)) for board in self.catalogue.leaderboards]
        tabs += [("yours", "your leaderboard"), ("linked", "linked leaderboards")]
        commands = [
            PaletteCommand(f"Show {name}", "leaderboard tab", partial(self.show_tab, pane))
            for pane, name in tabs
        ]
        if self.tabs.active == "yours":
            ranking = self.query_one(RankingTable)
            commands += [
                PaletteCommand(f"Sort your leaderboard by {header}", "sort", partial(ranking.sort_by, column))
                for column, (header, _key, _first) in SORTS.items()
            ]
        view = self.current_view
        if view is not None:
            columns = [(LABEL, "Model"), *((m.id, m.name) for m in view.board.metrics)]
            commands += [
                PaletteCommand(f"Sort {one_line(view.board.name)} by {one_line(name)}", "sort",
                               partial(view.table.sort_by, column))
                for column, name in columns
            ]
        return commands
