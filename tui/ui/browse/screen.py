"""Browse: model groups | model table (filter as you type, sort by any column) | detail pane.

Filtering runs in `tui.core.catalogue.browse.ModelIndex` over precomputed keys and the table draws
only the rows on screen, so a keystroke costs about the same with 30 or 10,000 models.

Chat (`c`) and compare (`m`) on a model that is not on this machine open the quant picker here; the
job opens once the chosen file is downloaded and verified.

The "Hub" source, last in the groups pane, swaps the table for Hub search results (`HubTable`):
the filter text is sent to the Hub after a pause in typing, in a thread worker; an answer to a query
that is no longer the current one is dropped. `n` fetches the next page, `s` changes the order.
A found repository goes through the same detail pane, quant picker, chat and compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

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
from tui.ui.browse.detail import ACTIONS, FIND_ON_HUB, ModelDetail
from tui.ui.browse.table import ModelTable
from tui.ui.common.commands import PaletteCommand
from tui.ui.common.keys import KeyFooter
from tui.ui.common.workers import ReportsWorkerFailures

if TYPE_CHECKING:  # the Hub's modules (and DataTable) load when the Hub source is shown
    from textual.widgets import DataTable

    from tui.core.models.hub import HubError
    from tui.core.models.search import HubRepo, HubSearch
    from tui.ui.browse.hub import HubTable

ALL_GROUPS = "all"
HUB_SOURCE = "hub"  # the groups pane's last entry: Hub search results instead of the catalogue
DETAIL_DELAY = 0.15  # seconds of no typing before the detail pane follows the filter
HUB_DELAY = 0.4  # seconds of no typing before the filter text is sent to the Hub
FITS_DELAY = 0.5  # seconds after mounting before the Fits here column is computed
CATALOGUE_PLACEHOLDER = "filter: name, org, licence, gguf:yes|other|no"
HUB_PLACEHOLDER = "search the Hub for GGUF repositories (any publisher)"


class FilterInput(Input):
    """An Input of fixed size whose text changes skip the layout pass (and the full repaint) that
    Textual's Input asks for when its content width changes."""

    virtual_size = Reactive(Size(0, 0), layout=False)


class BrowseScreen(ReportsWorkerFailures, Screen):
    CSS_PATH = "browse.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    AUTO_FOCUS = "#models"
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="browse.filter",
                tooltip="Filter by name, organisation, id, group, licence, gguf:yes|other|no "
                "or fits:yes|no|unknown"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="browse.clear_filter",
                tooltip="Clear the model filter"),
        Binding("s", "next_sort", "Sort", id="browse.sort", tooltip="Sort models by the next column"),
        Binding("r", "reverse_sort", "Reverse", show=False, id="browse.reverse",
                tooltip="Reverse the model sort order"),
        Binding("g", "next_group", "Group", show=False, id="browse.group",
                tooltip="Show the next model group"),
        Binding("d", "job('models')", "Download", id="browse.download",
                tooltip="Download a GGUF of the selected model"),
        Binding("c", "job('chat')", "Chat", id="browse.chat", tooltip="Chat with the selected model"),
        Binding("m", "job('compare')", "Compare", id="browse.compare",
                tooltip="Compare the selected model side by side with others"),
        Binding("o", "open_page", "Open page", show=False, id="browse.open_page",
                tooltip="Open the selected model's page in the browser"),
        Binding("b", "back", "Back", id="browse.back", tooltip="Back to the leaderboard row you came from"),
        Binding("n", "more_results", "More", id="browse.hub.more", tooltip="Fetch more Hub search results"),
        Binding("h", "find_on_hub", "Find on Hub", id="browse.find_on_hub",
                tooltip="Search the Hub for GGUF files of the selected model"),
        Binding("H", "hub_source", "Hub", show=False, id="browse.hub",
                tooltip="Search the Hub for GGUF repositories of any publisher"),
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

    @dataclass
    class HubPage(Message):
        """A page of a Hub search came back (or its error)."""

        search: HubSearch
        error: HubError | None

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
        self._findable = False
        self._count_width = 0
        self.hub_source = False  # the Hub's results are shown instead of the catalogue's
        self.hub_sort = "downloads"  # one of search.SORT_NAMES
        self.hub_search: HubSearch | None = None  # the current query's results
        self._hub_loading = False
        self._hub_error: str | None = None  # why the last question to the Hub got no answer
        self._hub_timer: Timer | None = None
        self._hub_table: HubTable | None = None  # built when the Hub source is first shown
        # Start with the breakpoint class of the current width (the widest breakpoint it reaches):
        # Textual sets it on the first resize, and a class change there restyles every widget once
        # more before the first frame.
        width = self.app.size.width
        reached = [name for least, name in sorted(self.HORIZONTAL_BREAKPOINTS) if width >= least]
        self.add_class(*reached[-1:], update=False)

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="browse-body"):
            yield OptionList(*self._group_options(), id="groups", classes="browse-pane")
            with Vertical(id="models-pane", classes="browse-pane"):
                with Horizontal(id="filter-bar"):
                    yield FilterInput(placeholder=CATALOGUE_PLACEHOLDER, id="filter")
                    yield Label(id="match-count")
                yield Label(id="hub-status")
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
        ] + [Option(Content.assemble("Hub ", ("search", "$text-muted")), id=HUB_SOURCE)]

    def on_mount(self) -> None:
        self.query_one("#groups").border_title = "Groups"
        self.query_one("#models-pane").border_title = "Models"
        self.query_one("#detail").border_title = "Details"
        self.query_one(ModelTable).measure(self.index.rows)
        self._count_width = 2 * len(str(len(self.index))) + 4
        self.query_one("#match-count").styles.width = self._count_width + 2
        self.query_one("#groups", OptionList).highlighted = 0
        self.query_one("#hub-status").display = False
        # Filter on the keystroke itself, not on the Input.Changed message: that one reaches the
        # screen a few event-loop turns later, after a frame showing only the typed character.
        self.watch(self.query_one(FilterInput), "value", self._filter_changed, init=False)
        self.refresh_rows()
        self._rows_shown = True
        if self._pending_model is not None:
            self.open_model(self._pending_model)
        self._show_detail()  # now, not on the table's message: in the first frame, not a relayout
        # Probing the machine imports psutil and sqlite3: after the first frames, not competing with them.
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
        self._show_detail()  # the detail pane says it too (a narrow table leaves the column out)

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
        if not self.hub_source:
            self.refresh_rows()
        elif self._hub_timer is not None:
            self._hub_timer.reset()
        else:
            self._hub_timer = self.set_timer(HUB_DELAY, self.ask_hub)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        if self.hub_source:
            if self._hub_timer is not None:  # enter: no need to wait for the pause
                self.ask_hub()
            self.hub_table.focus()
        else:
            self.table.focus()

    @on(Input.Blurred, "#filter")
    def _filter_left(self) -> None:
        if self._detail_timer is not None:  # typing is over: show the detail now
            self._detail_timer.stop()
            self._show_detail()

    @on(OptionList.OptionHighlighted, "#groups")
    def _group_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._set_source(event.option_id == HUB_SOURCE)
        if self.hub_source:
            return
        group = None if event.option_id == ALL_GROUPS else event.option_id
        if group != self.group:
            self.group = group
            self.refresh_rows()

    @on(OptionList.OptionSelected, "#groups")
    def _group_selected(self) -> None:
        (self.hub_table if self.hub_source else self.table).focus()

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
        detail = self.query_one(ModelDetail)
        model = self.selected_model
        if self.hub_source:
            shown: object = self.selected_repo
            detail.show_repo(self.selected_repo, self._hub_empty())
        else:
            shown = model
            fits = self.index.fits
            detail.show(self.catalogue, model, fits.get(model.id) if fits and model else None)
        findable = model is not None and model.gguf.repo is None
        # The job keys are enabled only with a model, "find on the Hub" without a TheBloke GGUF.
        if (shown is None, findable) != (self._showing_none, self._findable):
            self._showing_none, self._findable = shown is None, findable
            self.refresh_bindings()

    @on(ModelTable.Selected)
    def _row_selected(self) -> None:
        self.query_one("#action-download", Button).focus()

    # The Hub's table is a DataTable, imported with it: its messages are handled by name.
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.hub_source and event.data_table is self._hub_table:
            self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from tui.ui.browse.hub import MORE

        if event.data_table is not self._hub_table:
            return
        if event.row_key.value == MORE:
            self.action_more_results()
        else:
            self.query_one("#action-download", Button).focus()

    @on(Button.Pressed, f"#action-{FIND_ON_HUB[0]}")
    def _find_pressed(self) -> None:
        self.action_find_on_hub()

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
        if self.hub_source:
            return None
        row = self.table.current if self._rows_shown else None
        return row.model if row else None

    @property
    def hub_table(self) -> HubTable:
        """The Hub's results, built and mounted the first time they are asked for."""
        if self._hub_table is None:
            from tui.ui.browse.hub import HubTable

            self._hub_table = HubTable(id="hub-results")
            self.query_one("#models-pane").mount(self._hub_table)
        return self._hub_table

    @property
    def selected_repo(self) -> HubRepo | None:
        return self.hub_table.current if self.hub_source else None

    @property
    def selected_id(self) -> str | None:
        """The catalogue model's id or the Hub repository's: what a job is opened with."""
        repo, model = self.selected_repo, self.selected_model
        return repo.repo_id if repo else model.id if model else None

    # ---------------------------------------------------------------- the Hub source

    def _set_source(self, hub: bool) -> None:
        if hub == self.hub_source:
            return
        self.hub_source = hub
        self.table.display = not hub
        self.hub_table.display = hub
        self.query_one("#hub-status").display = hub
        self.query_one("#match-count").display = not hub
        self.query_one(FilterInput).placeholder = HUB_PLACEHOLDER if hub else CATALOGUE_PLACEHOLDER
        self.query_one("#models-pane").border_title = "Hub: GGUF repositories" if hub else "Models"
        if hub:
            self.ask_hub()
        else:
            self._stop_hub_timer()
            self.refresh_rows()
        self._show_detail()
        self.refresh_bindings()  # the Hub has its own keys (more results) and not others (reverse)

    def _stop_hub_timer(self) -> None:
        if self._hub_timer is not None:
            self._hub_timer.stop()
            self._hub_timer = None

    def show_hub(self, text: str | None = None) -> None:
        """Show the Hub source, searching for `text` (None: what the filter holds)."""
        if text is not None:
            self.query_one(FilterInput).value = text
        if self.hub_source:
            self.ask_hub()
        else:
            groups = self.query_one("#groups", OptionList)
            groups.highlighted = groups.get_option_index(HUB_SOURCE)
            self._set_source(True)  # now, not when the highlight's message arrives
        self._stop_hub_timer()

    def ask_hub(self) -> None:
        """Send the filter text to the Hub in the chosen order (the first page)."""
        from tui.core.models.hub import HubError
        from tui.core.models.search import HubSearch

        self._stop_hub_timer()
        try:
            search = HubSearch(self.filter_text, self.hub_sort)
        except HubError as error:
            self.hub_search, self._hub_error = None, str(error)
            self._hub_status(str(error))
            self._render_hub()
            return
        if (self.hub_search is not None and self.hub_search.results
                and (self.hub_search.query, self.hub_search.sort) == (search.query, search.sort)):
            return  # the same question, answered: keep the answer (and the pages fetched)
        self.hub_search, self._hub_error = search, None
        self._render_hub()
        self._hub_status(f"Searching the Hub for {search.query!r}…" if search.query
                         else "Searching the Hub…")  # fmt: skip
        self._hub_loading = True
        self._fetch_hub_page(search)

    def action_more_results(self) -> None:
        search = self.hub_search
        if self.hub_source and search is not None and not search.exhausted and not self._hub_loading:
            self._hub_status("Fetching more results…")
            self._hub_loading = True
            self._fetch_hub_page(search)

    @work(thread=True, exclusive=True, group="browse-hub", exit_on_error=False)
    def _fetch_hub_page(self, search: HubSearch) -> None:
        from tui.core.models.hub import HubError

        try:
            search.more()
        except HubError as error:
            self.post_message(self.HubPage(search, error))
        else:
            self.post_message(self.HubPage(search, None))

    @on(HubPage)
    def _hub_page(self, event: HubPage) -> None:
        if event.search is not self.hub_search:  # a query typed over since: not the answer
            return
        self._hub_loading = False
        self._hub_error = None if event.error is None else str(event.error)
        self._render_hub()
        if event.error is not None:
            self._hub_status(str(event.error))
            return
        from tui.core.models.search import SORT_WORDS

        found = len(event.search.results)
        what = f"{found} GGUF repositor{'y' if found == 1 else 'ies'}, {SORT_WORDS[self.hub_sort]}"
        self._hub_status(what + ("" if event.search.exhausted else "; n: more results"))

    def _render_hub(self) -> None:
        search = self.hub_search
        more = search is not None and bool(search.results) and not search.exhausted
        self.hub_table.show(search.results if search else (), more)
        self._show_detail()
        self.refresh_bindings()  # "more results" follows the search

    def _hub_empty(self) -> str:
        search = self.hub_search
        if self._hub_error is not None:  # the status line cuts it short; the pane wraps it
            return self._hub_error
        if search is None or not search.exhausted:
            return "Searching the Hub…" if search else "Type to search the Hub."
        return "No GGUF repository on the Hub matches the search."

    def _hub_status(self, text: str) -> None:
        self.query_one("#hub-status", Label).update(Content(one_line(text, 300)))

    def action_hub_source(self) -> None:
        self.show_hub()

    def action_find_on_hub(self) -> None:
        """The Hub's GGUF repositories for a catalogue model (its name, as the Hub ids hold it)."""
        model = self.selected_model
        if model is not None:
            self.show_hub(model.id.rsplit("/", 1)[-1])

    def hub_order(self, sort: str) -> None:
        """Order the Hub results by `sort` (one of `SORT_NAMES`): the search is asked again."""
        self.hub_sort = sort
        self.show_hub()

    def open_model(self, model_id: str) -> None:
        """Show a model (from a leaderboard row or another job); "back" returns to the origin."""
        origin = getattr(self.app, "origin_mode", None)
        self.back_to = origin if origin not in (None, "browse") else None
        if not self._rows_shown:
            self._pending_model = model_id
            return
        self._pending_model = None
        if self.hub_source:  # back to the catalogue, where the model is
            self.show_group(0)
            self._set_source(False)
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
        if action == "more_results":
            search = self.hub_search
            return self.hub_source and search is not None and not search.exhausted
        if action == "find_on_hub":
            return self._findable
        if action == "reverse_sort":  # the Hub gives each order one way round
            return not self.hub_source
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
        if self.hub_source:
            from tui.core.models.search import SORT_NAMES

            self.hub_order(SORT_NAMES[(SORT_NAMES.index(self.hub_sort) + 1) % len(SORT_NAMES)])
            return
        following = COLUMN_IDS[(COLUMN_IDS.index(self.sort.column) + 1) % len(COLUMNS)]
        self.action_sort(following)

    def action_reverse_sort(self) -> None:
        self.action_sort(self.sort.column)

    def action_next_group(self) -> None:
        groups = self.query_one("#groups", OptionList)
        self.show_group(((groups.highlighted or 0) + 1) % groups.option_count)

    def action_job(self, mode: str) -> None:
        model_id = self.selected_id
        if model_id is None:
            return
        if mode == "models":
            self.app.open_job(mode, model_id)
        else:  # chat and compare need the file: look for it first (a disk scan, so not here)
            self._look_for_file(mode, model_id)

    @work(thread=True, exclusive=True, group="browse-look", exit_on_error=False)
    def _look_for_file(self, mode: str, model_id: str) -> None:
        from tui.core.engine.base import EngineError
        from tui.core.engine.resolve import NotDownloaded, find_local

        here = True
        try:
            find_local(model_id, self.catalogue, self.app.context)
        except NotDownloaded:
            here = False
        except EngineError:
            pass  # anything else wrong with the file: the job says what
        self.post_message(self.Looked(mode, model_id, here))

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
        found = self.selected_repo or self.selected_model
        if found is not None:
            self.app.open_url(found.url)

    def palette_commands(self) -> list[PaletteCommand]:
        """Sort by each column, show each group, order the Hub's results (the rest of the screen's
        actions are its keys)."""
        from tui.core.models.search import SORT_NAMES, SORT_WORDS

        return [
            *(PaletteCommand(f"Sort models by {c.title}", "sort the model table",
                             partial(self.action_sort, c.id)) for c in COLUMNS),
            *(PaletteCommand(f"Show group {name}", "filter by group", partial(self.show_group, index))
              for index, (_, name, _) in enumerate(self._group_entries())),
            *(PaletteCommand(f"Order Hub results: {SORT_WORDS[sort]}", "the Hub source's order",
                             partial(self.hub_order, sort)) for sort in SORT_NAMES),
        ]  # fmt: skip

    def show_group(self, index: int) -> None:
        self.query_one("#groups", OptionList).highlighted = index

    def action_back(self) -> None:
        if self.back_to is not None:
            target, self.back_to = self.back_to, None
            self.app.switch_mode(target)
