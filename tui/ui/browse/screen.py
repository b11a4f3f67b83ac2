"""Browse: model groups | model table (filter as you type, sort by any column) | detail pane.

Filtering runs in `tui.core.catalogue.browse.ModelIndex` over precomputed keys and the table draws only the
rows on screen, so a keystroke costs about the same with 30 or 10,000 models (bench/filter.py).

Chat (`c`) and compare (`m`) on a model that is not on this machine open the quant picker here; the
job opens once the chosen file is downloaded and verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Header, Input, Label, OptionList
from textual.widgets.option_list import Option

from tui.core.catalogue import Model
from tui.core.catalogue.browse import COLUMN_IDS, COLUMNS, ModelIndex, Sort, column
from tui.core.text import one_line
from tui.ui.browse.detail import ACTIONS, ModelDetail
from tui.ui.browse.table import ModelTable
from tui.ui.commands import PaletteCommand
from tui.ui.keys import KeyFooter

ALL_GROUPS = "all"
DETAIL_DELAY = 0.15  # seconds of no typing before the detail pane follows the filter
FITS_DELAY = 0.5  # seconds after mounting before the Fits here column is computed


class FilterInput(Input):
    """An Input of fixed size whose text changes skip the layout pass (and the full repaint) that
    Textual's Input asks for when its content width changes."""

    virtual_size = Reactive(Size(0, 0), layout=False)


class BrowseScreen(Screen):
    CSS_PATH = "browse.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    AUTO_FOCUS = "#models"
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="browse.filter",
                tooltip="Filter by name, organisation, id, group, licence, gguf:yes|other|no "
                "or fits:yes|no|unknown"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="browse.clear_filter",
                tooltip="Clear the model filter"),
        Binding("s", "next_sort", "Sort", id="browse.sort",
                tooltip="Sort models by the next column"),
        Binding("r", "reverse_sort", "Reverse", show=False, id="browse.reverse",
                tooltip="Reverse the model sort order"),
        Binding("g", "next_group", "Group", show=False, id="browse.group",
                tooltip="Show the next model group"),
        Binding("d", "job('models')", "Download", id="browse.download",
                tooltip="Download a GGUF of the selected model"),
        Binding("c", "job('chat')", "Chat", id="browse.chat",
                tooltip="Chat with the selected model"),
        Binding("m", "job('compare')", "Compare", id="browse.compare",
                tooltip="Compare the selected model side by side with others"),
        Binding("o", "open_page", "Open page", show=False, id="browse.open_page",
                tooltip="Open the selected model's page in the browser"),
        Binding("b", "back", "Back", id="browse.back",
                tooltip="Back to the leaderboard row you came from"),
    ]
    HELP_TITLE = "Models"

    @dataclass
    class FitsFound(Message):
        """Each model's best quant for this machine (the Fits here column)."""

        fits: dict

    @dataclass
    class Looked(Message):
        """Whether a model a job was asked for has a file on this machine."""

        mode: str
        model_id: str
        here: bool

    def __init__(self) -> None:
        super().__init__()
        self.catalogue = self.app.catalogue
        self.index = ModelIndex(self.catalogue)
        self.sort = Sort()
        self.group: str | None = None
        self.back_to: str | None = None  # the mode "back" returns to, after a jump here
        self._pending_model: str | None = None
        self._rows_shown = False  # set on mount (is_mounted is only true after on_mount)
        self._detail_timer: Timer | None = None
        self._showing_none = False
        self._count_width = 0
        # Start with the breakpoint class of the current width: Textual sets it on the first
        # resize, and a class change there restyles every widget once more before the first frame.
        self.add_class(
            *self._get_breakpoint_classes(self.app.size.width, self.HORIZONTAL_BREAKPOINTS),
            update=False,
        )

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="browse-body"):
            yield OptionList(*self._group_options(), id="groups", classes="browse-pane")
            with Vertical(id="models-pane", classes="browse-pane"):
                with Horizontal(id="filter-bar"):
                    yield FilterInput(
                        placeholder="filter: name, org, licence, gguf:yes|other|no",
                        id="filter",
                    )
                    yield Label(id="match-count")
                yield ModelTable(id="models")
            yield ModelDetail(id="detail", classes="browse-pane")
        yield KeyFooter()

    def _group_entries(self) -> list[tuple[str, str, int]]:
        """(option id, name, model count) for "All" and each group."""
        counts = self.catalogue.group_counts()
        entries = [(ALL_GROUPS, "All", len(self.catalogue.models))]
        return entries + [(g.id, one_line(g.name), counts[g.id]) for g in self.catalogue.groups]

    def _group_options(self) -> list[Option]:
        return [
            Option(Content.assemble(name, " ", (str(count), "$text-muted")), id=group_id)
            for group_id, name, count in self._group_entries()
        ]

    def on_mount(self) -> None:
        self.query_one("#groups").border_title = "Groups"
        self.query_one("#models-pane").border_title = "Models"
        self.query_one("#detail").border_title = "Details"
        self.query_one(ModelTable).measure(self.index.rows)
        self._count_width = 2 * len(str(len(self.index))) + 4
        self.query_one("#match-count").styles.width = self._count_width + 2
        self.query_one("#groups", OptionList).highlighted = 0
        # Filter on the keystroke itself, not on the Input.Changed message: that one reaches the
        # screen a few event-loop turns later, after a frame showing only the typed character.
        self.watch(self.query_one(FilterInput), "value", self._filter_changed, init=False)
        self.refresh_rows()
        self._rows_shown = True
        if self._pending_model is not None:
            self.open_model(self._pending_model)
        self._show_detail()  # now, not on the table's message: in the first frame, not a relayout
        # Probing the machine and reading the database imports psutil and sqlite3: started once
        # the first frames are painted, so it never competes with them (bench/startup.py).
        self.set_timer(FITS_DELAY, self._find_fits)

    @work(thread=True, exclusive=True, group="browse-fits", exit_on_error=False)
    def _find_fits(self) -> None:
        from tui.core.models.recommend import for_context

        self.post_message(self.FitsFound(for_context(self.app.context, self.catalogue.models)))

    def on_screen_resume(self) -> None:
        if self.index.fits is not None:  # back from a job: new speeds measured, files listed
            self._find_fits()

    @on(FitsFound)
    def _fits_found(self, event: FitsFound) -> None:
        self.index = self.index.with_fits(event.fits)
        self.table.measure(self.index.rows)
        self.refresh_rows()

    # ---------------------------------------------------------------- rows

    @property
    def table(self) -> ModelTable:
        return self.query_one(ModelTable)

    @property
    def filter_text(self) -> str:
        return self.query_one("#filter", Input).value

    def refresh_rows(self) -> None:
        rows = self.index.view(self.filter_text, self.group, self.sort)
        self.table.show(rows, self.sort)
        # Fixed width (set on mount): no layout pass per keystroke.
        self.query_one("#match-count", Label).update(
            Content(f"{len(rows)} of {len(self.index)}".rjust(self._count_width)), layout=False
        )

    def _filter_changed(self) -> None:
        if self._detail_timer is not None:  # still typing: the detail pane waits for a pause
            self._detail_timer.reset()
        self.refresh_rows()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.table.focus()

    @on(Input.Blurred, "#filter")
    def _filter_left(self) -> None:
        if self._detail_timer is not None:  # typing is over: show the detail now
            self._detail_timer.stop()
            self._show_detail()

    @on(OptionList.OptionHighlighted, "#groups")
    def _group_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        group = None if event.option_id == ALL_GROUPS else event.option_id
        if group != self.group:
            self.group = group
            self.refresh_rows()

    @on(OptionList.OptionSelected, "#groups")
    def _group_selected(self) -> None:
        self.table.focus()

    @on(ModelTable.Highlighted)
    def _row_highlighted(self, event: ModelTable.Highlighted) -> None:
        # The detail pane changes size (a layout pass over the screen): while the user types a
        # filter it waits for a pause in typing, so each keystroke only redraws the table.
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        if self.query_one("#filter", Input).has_focus:
            self._detail_timer = self.set_timer(DETAIL_DELAY, self._show_detail)
        else:
            self._show_detail()

    def _show_detail(self) -> None:
        self._detail_timer = None
        model = self.selected_model
        self.query_one(ModelDetail).show(self.catalogue, model)
        if (model is None) != self._showing_none:  # the job keys are enabled only with a model
            self._showing_none = model is None
            self.refresh_bindings()

    @on(ModelTable.Selected)
    def _row_selected(self) -> None:
        self.query_one("#action-download", Button).focus()

    @on(ModelTable.HeaderClicked)
    def _header_clicked(self, event: ModelTable.HeaderClicked) -> None:
        self.action_sort(event.column.id)

    @on(Button.Pressed, "#detail-actions Button")
    def _action_pressed(self, event: Button.Pressed) -> None:
        for button_id, _, mode in ACTIONS:
            if event.button.id == f"action-{button_id}":
                self.action_job(mode)

    # ---------------------------------------------------------------- jumping here

    @property
    def selected_model(self) -> Model | None:
        row = self.table.current if self._rows_shown else None
        return row.model if row else None

    def open_model(self, model_id: str) -> None:
        """Show a model (from a leaderboard row or another job); "back" returns to the origin."""
        origin = getattr(self.app, "origin_mode", None)
        self.back_to = origin if origin not in (None, "browse") else None
        if not self._rows_shown:
            self._pending_model = model_id
            return
        self._pending_model = None
        if not self.table.move_to(model_id):
            # Hidden by the filter or the group: show everything, then find it.
            self.query_one("#filter", Input).value = ""
            self.query_one("#groups", OptionList).highlighted = 0
            self.group = None
            self.refresh_rows()
            self.table.move_to(model_id)
        self.table.focus()
        self.refresh_bindings()

    # ---------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return self.back_to is not None
        if action in ("job", "open_page"):  # as the detail pane shows (the footer is composed
            return None if self._showing_none else True  # before the table has its rows)
        return True

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        if filter_input.value:
            filter_input.value = ""  # the watcher refreshes the rows
        elif filter_input.has_focus:
            self.table.focus()

    def action_sort(self, column_id: str) -> None:
        """Sort by a column; choosing the current sort column again reverses it."""
        if column_id == self.sort.column:
            self.sort = Sort(column_id, not self.sort.descending)
        else:
            self.sort = Sort(column_id, descending=column(column_id).numeric)
        self.refresh_rows()

    def action_next_sort(self) -> None:
        following = COLUMN_IDS[(COLUMN_IDS.index(self.sort.column) + 1) % len(COLUMNS)]
        self.action_sort(following)

    def action_reverse_sort(self) -> None:
        self.action_sort(self.sort.column)

    def action_next_group(self) -> None:
        groups = self.query_one("#groups", OptionList)
        self.show_group(((groups.highlighted or 0) + 1) % groups.option_count)

    def action_job(self, mode: str) -> None:
        model = self.selected_model
        if model is None:
            return
        if mode == "models":
            self.app.open_job(mode, model.id)
        else:  # chat and compare need the file: look for it first (a disk scan, so not here)
            self._look_for_file(mode, model.id)

    @work(thread=True, exclusive=True, group="browse-look", exit_on_error=False)
    def _look_for_file(self, mode: str, model_id: str) -> None:
        from tui.core.engine.base import EngineError
        from tui.core.engine.resolve import NotDownloaded, find_local

        try:
            find_local(model_id, self.catalogue)
        except NotDownloaded:
            self.post_message(self.Looked(mode, model_id, here=False))
            return
        except EngineError:
            pass  # anything else wrong with the file: the job says what
        self.post_message(self.Looked(mode, model_id, here=True))

    @on(Looked)
    def _looked(self, event: Looked) -> None:
        if self.app.screen is not self:  # a picker is open already, or the user moved on
            return
        if event.here:
            self.app.open_job(event.mode, event.model_id)
        else:
            from tui.ui.download.screen import get_then_open

            get_then_open(self.app, event.model_id, event.mode)

    def action_open_page(self) -> None:
        model = self.selected_model
        if model is not None:
            self.app.open_url(model.url)

    def palette_commands(self) -> list[PaletteCommand]:
        """Sort by each column, show each group (the rest of the screen's actions are its keys)."""
        commands = [
            PaletteCommand(f"Sort models by {c.title}", "sort the model table",
                           lambda column_id=c.id: self.action_sort(column_id))
            for c in COLUMNS
        ]
        for index, (_, name, _) in enumerate(self._group_entries()):
            commands.append(PaletteCommand(f"Show group {name}", "filter by group",
                                           lambda index=index: self.show_group(index)))
        return commands

    def show_group(self, index: int) -> None:
        self.query_one("#groups", OptionList).highlighted = index

    def action_back(self) -> None:
        if self.back_to is not None:
            target, self.back_to = self.back_to, None
            self.app.switch_mode(target)
