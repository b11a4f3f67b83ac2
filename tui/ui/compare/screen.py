"""Compare: 2-4 models answer one prompt (or a prompt set) side by side.

Left: the chosen models (typed spec, or picked from My models), per-model overrides, the settings,
scheduling and blind mode. Right: the system prompt and prompt, then one column per model streaming
its answer as Markdown with its state and stats. A prompt set ends in a grid of prompt x model.

The `Comparison` (tui.core.compare.comparison) runs on its own threads and calls back from them:
token text goes through the pump into each column's Markdown stream; state changes (rare) are
posted as messages. Workers never touch widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.types import NoActiveAppError
from textual.widget import Widget
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    Markdown,
    OptionList,
    Select,
    Static,
    TextArea,
)
from textual.widgets.markdown import MarkdownStream
from textual.widgets.option_list import Option

from tui.core.chat.presets import Preset, sampling_overrides
from tui.core.compare.comparison import (
    FINAL_STATES,
    MAX_MODELS,
    VOTE_NAMES,
    CellChanged,
    ColumnChanged,
    CompareConfig,
    CompareError,
    CompareEvent,
    Comparison,
    ComparisonResult,
    Finished,
    ModelChoice,
    TextAdded,
    answer_text,
    overrides_text,
    parse_overrides,
    stats_line,
)
from tui.core.compare.diff import Change, diff
from tui.core.compare.prompt_sets import Prompt, PromptSetError, load_prompt_set
from tui.core.compare.votes import Proposal
from tui.core.engine.base import chat_options
from tui.core.storage import StorageError, write_atomic
from tui.core.text import clean, one_line
from tui.ui.common.errors import show_error
from tui.ui.common.keys import KeyFooter, is_text_input, leave_text_input
from tui.ui.common.markdown_stream import open_stream
from tui.ui.common.model_select import ModelSelect
from tui.ui.common.pump import TextPump
from tui.ui.common.storage import ShowsStorageNotices, StorageNotice, show_notice
from tui.ui.common.workers import ReportsWorkerFailures

VOTE_KEYS = {"a": "A", "b": "B", "c": "C", "d": "D", "t": "tie", "x": "all_bad"}


class ModelColumn(Vertical):
    """One model's answer: title and state, streaming Markdown, stats line, a stop button."""

    def __init__(self, index: int, **kwargs) -> None:
        super().__init__(classes="model-column", **kwargs)
        self.index = index
        self.stream: MarkdownStream | None = None
        self.reasoned = 0  # characters of reasoning the answer shown has streamed so far

    def compose(self) -> ComposeResult:
        with Horizontal(classes="column-head"):
            yield Static(classes="column-title")
            yield Button("■ Stop", classes="column-stop", compact=True)
        with VerticalScroll(classes="column-body", can_focus=True):
            yield Markdown(classes="column-answer")
        yield Static(classes="column-stats")

    @property
    def markdown(self) -> Markdown:
        return self.query_one(".column-answer", Markdown)


def _column_of(widget: Widget | None) -> ModelColumn | None:
    """The model column `widget` is in (or is)."""
    if widget is None:
        return None
    return next((w for w in widget.ancestors_with_self if isinstance(w, ModelColumn)), None)


class HistoryScreen(ModalScreen[tuple[str, int] | None]):
    """Saved comparisons: reopen (enter), re-run (r), export Markdown (m) or JSONL (j)."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", id="compare.history.close"),
        Binding("r", "choose('rerun')", "Re-run", id="compare.history.rerun"),
        Binding("m", "choose('markdown')", "Export Markdown", id="compare.history.markdown"),
        Binding("j", "choose('jsonl')", "Export JSONL", id="compare.history.jsonl"),
    ]

    def __init__(self, summaries) -> None:
        super().__init__()
        self.summaries = summaries

    def compose(self) -> ComposeResult:
        with Vertical(id="history"):
            yield Label("Saved comparisons: enter reopens, r re-runs, m/j export")
            options = [
                Option(
                    Content(
                        f"#{s.id}  {s.created[:16]}  {one_line(s.title, 40)}  "
                        f"[{', '.join(one_line(m, 30) for m in s.models)}]"
                        + (f"  {s.votes} vote(s)" if s.votes else "")
                    ),
                    id=str(s.id),
                )
                for s in self.summaries
            ]
            yield OptionList(*options, id="history-list")
            yield Footer()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(("open", int(event.option.id)))

    def action_choose(self, what: str) -> None:
        if (option := self.query_one(OptionList).highlighted_option) is not None:
            self.dismiss((what, int(option.id)))


class CompareScreen(ReportsWorkerFailures, ShowsStorageNotices, Screen):
    CSS_PATH = "compare.tcss"
    HELP_TITLE = "Compare"
    AUTO_FOCUS = ""  # on entering, the step that comes next (_focus_next_step)
    BINDINGS = [
        Binding("ctrl+r", "run", "Run", id="compare.run", tooltip="Run the prompt on every model"),
        Binding("ctrl+t", "run_set", "Run set", id="compare.run_set",
                tooltip="Run the prompt set file across every model"),
        Binding("escape", "stop_all", "Stop all", id="compare.stop_all"),
        Binding("ctrl+k", "stop_column", "Stop column", id="compare.stop_column",
                tooltip="Stop the model whose column has the focus"),
        Binding("delete", "remove_model", "Remove model", show=False, id="compare.remove",
                tooltip="Remove the highlighted model from the comparison"),
        Binding("f3", "history", "History", id="compare.history",
                tooltip="Saved comparisons: reopen, re-run, export"),
        Binding("ctrl+s", "export", "Export", id="compare.export",
                tooltip="Export this comparison as Markdown and JSONL"),
        Binding("ctrl+n", "next_pair", "Next pair", id="compare.next_pair",
                tooltip="Set up, blind, the two models whose order your votes settle least, "
                        "with one of your recent prompts"),
        *(Binding(key, f"vote('{choice}')", VOTE_NAMES.get(choice, f"{choice} better").capitalize(),
                  id=f"compare.vote.{choice}", tooltip="Vote (blind mode shows names after it)")
          for key, choice in VOTE_KEYS.items()),
    ]  # fmt: skip

    # -- messages (posted from the comparison's threads) -----------------------------------------

    @dataclass
    class ColumnUpdate(Message):
        event: ColumnChanged | CellChanged

    @dataclass
    class RunFinished(Message):
        result: ComparisonResult

    @dataclass
    class Saved(Message):
        result: ComparisonResult
        changes: list[Change]

    @dataclass
    class PairProposed(Message):
        proposal: Proposal | None

    def __init__(self) -> None:
        super().__init__()
        from tui.core.compare.store import CompareStore

        context = self.app.context
        # A comparison or vote the disk refuses waits in the store and is written later.
        self.store = CompareStore(context.paths.database, report=self.store_report)
        self.load_options, self.base_sampling = chat_options(context.settings.chat)
        self.presets = context.presets()
        self._offered_presets: list[str] = []
        self.choices: list[ModelChoice] = []
        self.comparison: Comparison | None = None
        self.result: ComparisonResult | None = None  # the one shown (running, finished or reopened)
        self.changes: list[Change] = []
        # Streamed text per (column, row), from the comparison's threads, paced to the UI.
        self._pump = TextPump(self, self._drain)
        self._row_shown: dict[int, int] = {}  # column -> the prompt row its Markdown shows
        self._stream_ops: list[tuple[str, int, int]] = []  # ("start" | "finish", column, row)
        self._closing = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="compare-body"):
            with Vertical(id="setup"):
                yield Label("Models (2-4)", classes="pane-title")
                yield OptionList(id="models")
                yield Input(placeholder="add: .gguf path, catalogue id, URL#MODEL", id="model-add")
                yield ModelSelect("add from My models or a server", id="model-pick")
                yield Label("Overrides for the highlighted model", classes="pane-title")
                yield Input(placeholder="e.g. temperature=0.2 max_tokens=128", id="overrides")
                yield Select([], prompt="its sampling from a preset", compact=True,
                             id="model-preset")  # fmt: skip
                yield Label("Settings for all", classes="pane-title")
                yield Select([], prompt="preset: none", compact=True, id="preset")
                yield Input(self._settings_text(), id="settings")
                yield Select(
                    [("auto: together if they fit", "auto"), ("at the same time", "parallel"),
                     ("one after another", "sequential")],
                    value="auto", allow_blank=False, id="mode",
                )  # fmt: skip
                yield Checkbox("Blind (A/B until you vote)", id="blind")
                yield Input(placeholder="prompt set file (.yaml/.jsonl), ctrl+t runs it", id="set-path")
            with Vertical(id="main"):
                yield Input(placeholder="system prompt (shared)", id="system")
                yield TextArea(id="prompt", soft_wrap=True, show_line_numbers=False)
                yield Static(id="status")
                yield Horizontal(id="columns")
                yield DataTable(id="grid", cursor_type="cell")
                yield Static(id="grid-detail")
        yield KeyFooter()

    def storage_changed(self) -> None:
        self._show_status()  # a waiting comparison may have its number now

    def on_mount(self) -> None:
        self.query("#grid, #grid-detail").set(display=False)
        self.query_one("#prompt", TextArea).border_title = "Prompt (ctrl+r runs)"
        self._show_status()
        if self.presets.error is not None:  # the built-in presets are offered meanwhile
            show_error(self, self.presets.error)

    def on_screen_resume(self) -> None:
        # Each time the screen shows: files downloaded and endpoints added meanwhile are offered.
        self.query_one("#model-pick", ModelSelect).rescan()
        self._offer_presets()  # and presets made in the manager
        if self.focused is None:
            self._focus_next_step()

    def _focus_next_step(self) -> None:
        """The models to choose from until two are chosen, then the prompt."""
        target = "#model-pick" if len(self.choices) < 2 else "#prompt"
        self.query_one(target).focus()

    def on_unmount(self) -> None:
        self._pump.close()
        self._closing = True
        if self.comparison is not None:
            self.comparison.stop()

    # -- choosing models -------------------------------------------------------------------------

    def open_model(self, spec: str) -> None:
        """Add `spec` to the models compared (from the browse screen or My models)."""
        if not self.is_mounted:
            self.call_later(self.open_model, spec)
            return
        spec = spec.strip()
        if not spec:
            return
        if any(c.spec == spec for c in self.choices):
            self.notify(f"{one_line(spec)} is already chosen", severity="warning", markup=False)
            return
        if len(self.choices) >= MAX_MODELS:
            self.notify(f"At most {MAX_MODELS} models: remove one first (delete)", severity="warning")
            return
        default = self.presets.default_for(spec)
        own = sampling_overrides(default, self.base_sampling) if default else {}
        self.choices.append(ModelChoice(spec, own))
        self._show_choices()
        if not is_text_input(self.focused):  # unless the user is typing somewhere
            self._focus_next_step()

    def _show_choices(self) -> None:
        models = self.query_one("#models", OptionList)
        highlighted = models.highlighted
        models.clear_options()
        for choice in self.choices:
            text = one_line(choice.spec, 60)
            if choice.overrides:
                text += f"  ({overrides_text(choice.overrides)})"
            models.add_option(Option(Content(text)))
        if self.choices:
            models.highlighted = min(highlighted or 0, len(self.choices) - 1)
        self._show_status()

    @on(Input.Submitted, "#model-add")
    def _model_typed(self, event: Input.Submitted) -> None:
        self.open_model(event.value)
        event.input.value = ""

    @on(Select.Changed, "#model-pick")
    def _model_picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.open_model(event.value)
            event.select.clear()

    @on(OptionList.OptionHighlighted, "#models")
    def _model_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        choice = self.choices[event.option_index]
        self.query_one("#overrides", Input).value = overrides_text(choice.overrides)

    def _highlighted(self) -> int | None:
        """The index of the model highlighted in the list (None: none is)."""
        index = self.query_one("#models", OptionList).highlighted
        return index if index is not None and index < len(self.choices) else None

    def _set_overrides(self, index: int, overrides: dict) -> None:
        self.choices[index] = ModelChoice(self.choices[index].spec, overrides)
        self._show_choices()
        self.query_one("#overrides", Input).value = overrides_text(overrides)

    @on(Input.Submitted, "#overrides")
    def _overrides_set(self, event: Input.Submitted) -> None:
        if (index := self._highlighted()) is None:
            self.notify("Highlight a model first", severity="warning")
            return
        try:
            overrides = parse_overrides(event.value)
        except CompareError as error:
            show_error(self, error, title="Overrides")
            return
        self._set_overrides(index, overrides)

    def _offer_presets(self) -> None:
        names = self.presets.names()
        if names != self._offered_presets:  # unchanged: each picker keeps its choice
            self._offered_presets = names
            options = [(Text(one_line(name)), name) for name in names]
            for select in self.query("#preset, #model-preset").results(Select):
                select.set_options(options)

    def _chosen_preset(self, event: Select.Changed) -> Preset | None:
        return self.presets.find(event.value) if isinstance(event.value, str) else None

    @on(Select.Changed, "#model-preset")
    def _model_preset_chosen(self, event: Select.Changed) -> None:
        if (preset := self._chosen_preset(event)) is None:
            return
        event.select.clear()
        if (index := self._highlighted()) is None:
            self.notify("Highlight a model first", severity="warning")
            return
        self._set_overrides(index, sampling_overrides(preset, self.base_sampling))

    @on(Select.Changed, "#preset")
    def _preset_chosen(self, event: Select.Changed) -> None:
        preset = self._chosen_preset(event)
        chat = self.app.context.settings.chat
        self.load_options, self.base_sampling = chat_options(chat, preset and preset.values())
        self.query_one("#settings", Input).value = self._settings_text()
        self.query_one("#system", Input).value = preset.system_prompt if preset else ""

    def action_remove_model(self) -> None:
        if (index := self._highlighted()) is not None:
            del self.choices[index]
            self._show_choices()

    # -- running ---------------------------------------------------------------------------------

    def _settings_text(self) -> str:
        s = self.base_sampling
        seed = "" if s.seed is None else f" seed={s.seed}"
        return f"temperature={s.temperature} max_tokens={s.max_tokens} top_p={s.top_p}{seed}"

    def _config(self, prompts: tuple[Prompt, ...], system: str, prompt_set: str = "") -> CompareConfig:
        shared = parse_overrides(self.query_one("#settings", Input).value)
        return CompareConfig(
            models=tuple(self.choices),
            prompts=prompts,
            system_prompt=system,
            sampling=replace(self.base_sampling, **shared),
            load=self.load_options,
            mode=self.query_one("#mode", Select).value,
            blind=self.query_one("#blind", Checkbox).value,
            prompt_set=prompt_set,
        )

    def action_run(self) -> None:
        prompt = self.query_one("#prompt", TextArea).text
        if not prompt.strip():
            self.notify("Write a prompt first", severity="warning")
            return
        system = self.query_one("#system", Input).value
        self._start(lambda: self._config((Prompt(prompt, id="prompt"),), system))

    def action_run_set(self) -> None:
        path = self.query_one("#set-path", Input).value.strip()
        if not path:
            self.notify("Type a prompt set file's path first", severity="warning")
            return
        try:
            prompt_set = load_prompt_set(Path(path).expanduser())
        except PromptSetError as error:
            show_error(self, error, title="Prompt set")
            return
        system = self.query_one("#system", Input).value or prompt_set.system
        resolved = str(Path(path).expanduser().resolve())
        self._start(lambda: self._config(prompt_set.prompts, system, resolved))

    def _comparing(self) -> bool:
        """Whether a comparison is running (the user is told so: it must end first)."""
        running = self.comparison is not None and not self.comparison.done
        if running:
            self.notify("A comparison is running: Esc stops it", severity="warning")
        return running

    def _start(self, make_config, parent_id: int | None = None) -> None:
        if self._comparing():
            return
        try:
            config = make_config()
            config.validate()
        except CompareError as error:
            show_error(self, error)
            return
        self._launch(config, parent_id)

    @work(thread=True, group="compare", exit_on_error=False)
    def _launch(self, config: CompareConfig, parent_id: int | None) -> None:
        # Planning reads file headers and resolves catalogue ids: off the event loop.
        comparison = Comparison(config, on_event=self._on_event, parent_id=parent_id,
                                catalogue=self.app.catalogue, context=self.app.context)  # fmt: skip
        self.app.call_from_thread(self._show_run, comparison)
        comparison.start()

    async def _show_run(self, comparison: Comparison) -> None:
        self._pump.clear()
        self._row_shown, self._stream_ops = {}, []
        await self._show_result(comparison.result, comparison)
        self._show_status()
        self._pump.start()

    async def _show_result(self, result: ComparisonResult, comparison: Comparison | None) -> None:
        """A column per model of `result` (a run's, or a saved one's: `comparison` None); no grid."""
        self.comparison, self.result, self.changes = comparison, result, []
        holder = self.query_one("#columns", Horizontal)
        await holder.remove_children()
        await holder.mount_all(ModelColumn(c.index, id=f"column-{c.index}") for c in result.by_letter())
        for column in result.columns:
            self._show_column(column.index)
        self.query("#grid, #grid-detail").set(display=False)

    def _on_event(self, event: CompareEvent) -> None:
        """Called on the comparison's threads: buffer text, post the rest."""
        if isinstance(event, TextAdded):
            # Reasoning is kept in the result apart from the answer; the column counts it.
            self._pump.put((event.column, event.row, "reasoning") if event.reasoning
                           else (event.column, event.row), event.text)  # fmt: skip
            return
        if self._closing:
            return  # the screen is gone; the comparison is being stopped
        message = self.RunFinished(event.result) if isinstance(event, Finished) else None
        try:
            self.post_message(message or self.ColumnUpdate(event))
        except NoActiveAppError:
            pass  # the app ended while the comparison was stopping

    def _column(self, index: int) -> ModelColumn | None:
        return self.query_one_optional(f"#column-{index}", ModelColumn)

    def _show_column(self, index: int) -> None:
        widget = self._column(index)
        if widget is None or self.result is None:
            return
        column = self.result.columns[index]
        title = Content.assemble((column.name(self.result.revealed), "bold"), f"  {column.state}")
        if widget.reasoned:
            title = Content.assemble(title, (f"  · reasoning {widget.reasoned:,} characters", "dim"))
        widget.query_one(".column-title", Static).update(title)
        row = self._row_shown.get(index, 0)
        widget.query_one(".column-stats", Static).update(
            Content(stats_line(column, self.result.cell(row, index)))
        )
        widget.query_one(".column-stop", Button).disabled = column.state in FINAL_STATES
        widget.set_class(column.state == "failed", "-failed")

    @on(ColumnUpdate)
    def _column_update(self, message: ColumnUpdate) -> None:
        event = message.event
        if self.result is None:
            return
        if isinstance(event, ColumnChanged):
            self._show_column(event.column.index)
            return
        cell = event.cell
        starts = cell.state == "generating"
        if starts:
            self._row_shown[cell.column] = cell.row
        self._stream_ops.append(("start" if starts else "finish", cell.column, cell.row))
        if not self._pump.running:  # a column that ends after the run: no paced drain comes
            self.call_later(self._pump.wake)
        self._show_column(cell.column)

    async def _drain(self) -> None:
        """The only writer of the columns' Markdown (the pump calls it, one drain at a time):
        starts, feeds and ends streams in order, so a stream is never written after it ended nor
        updated while it is appending."""
        while self._stream_ops:
            kind, index, row = self._stream_ops.pop(0)
            widget = self._column(index)
            if widget is None:
                continue
            if widget.stream is not None:
                stream, widget.stream = widget.stream, None
                await stream.stop()
            text = self._pump.take((index, row))
            if kind == "start":
                widget.reasoned = len(self._pump.take((index, row, "reasoning")))
                await widget.markdown.update("")
                widget.stream = await open_stream(widget.markdown)
                await widget.stream.write(clean(text))
            else:
                # One full update at the end: the stream never saw the whole text at once.
                cell = self.result.cell(row, index)
                widget.reasoned = len(cell.reasoning)
                self._show_column(index)
                await widget.markdown.update(clean(answer_text(cell)))
        # A copy: the awaits below let column updates change which row each column shows.
        for index, row in list(self._row_shown.items()):
            widget = self._column(index)
            text = self._pump.take((index, row))
            thought = self._pump.take((index, row, "reasoning"))
            if widget is not None and thought:
                widget.reasoned += len(thought)
                self._show_column(index)
            if widget is not None and widget.stream is not None and text:
                await widget.stream.write(clean(text))

    @on(RunFinished)
    async def _run_finished(self, message: RunFinished) -> None:
        if message.result is not self.result:
            return
        await self._pump.stop()
        self._show_status()
        self._save(message.result)

    @work(thread=True, group="store", exit_on_error=False)
    def _save(self, result: ComparisonResult) -> None:
        # Hashing model files takes a while the first time: a worker.
        try:
            previous = self.store.latest_like(result) if result.config.prompt_set else None
        except StorageError:
            previous = None  # nothing to diff against now; the store reports the fault itself
        self.store.save(result)  # on a full disk it waits (result.id None) and says so
        try:
            changes = diff(self.store.load(previous), result) if previous is not None else []
        except StorageError as error:
            self.post_message(StorageNotice(error))
            changes = []
        self.post_message(self.Saved(result, changes))

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        if message.result is not self.result:
            return
        self.changes = message.changes
        if len(self.result.config.prompts) > 1:
            self._show_grid()
        self._show_status()

    def _show_status(self) -> None:
        status = self.query_one("#status", Static)
        result = self.result
        if result is None:
            n = len(self.choices)
            status.update(Content(f"{n} model{'s' * (n != 1)} chosen; add 2-4, write a prompt, ctrl+r"))
            return
        plan = self.comparison.plan.reason if self.comparison else f"saved #{result.id}"
        parts = [plan]
        if result.id is not None:
            parts.append(f"saved as #{result.id}")
        elif self.comparison is not None and self.comparison.done:
            parts.append("not saved yet")
        if result.config.blind and result.finished_all and not result.votes:
            parts.append("vote: a/b/c/d better, t tie, x all bad")
        if result.votes:
            parts.append("votes: " + ", ".join(result.vote_text(v) for v in result.votes))
        if self.changes:
            parts.append(f"{len(self.changes)} change(s) since the last run")
        status.update(Content(" · ".join(parts)))

    # -- stopping --------------------------------------------------------------------------------

    def action_stop_all(self) -> None:
        if self.comparison is not None and not self.comparison.done:
            self.comparison.stop()
        else:
            leave_text_input(self)  # nothing to stop: esc leaves the input (for the view keys)

    def action_stop_column(self) -> None:
        if (column := _column_of(self.focused)) is None:
            self.notify("Focus a column first (tab)", severity="warning")
        elif self.comparison is not None:
            self.comparison.stop(column.index)

    @on(Button.Pressed, ".column-stop")
    def _stop_pressed(self, event: Button.Pressed) -> None:
        if self.comparison is not None:
            self.comparison.stop(_column_of(event.button).index)

    # -- judging ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "vote":
            result = self.result
            if result is None or not result.finished_all or result.id is None:
                return False
            return parameters[0] in result.vote_choices
        return True

    def action_vote(self, choice: str) -> None:
        result = self.result
        if result is None or result.id is None:
            return
        vote = result.vote(choice)
        self.store.add_vote(result.id, vote)
        for column in result.columns:
            self._show_column(column.index)
        self._show_status()
        self.notify(f"Vote kept: {result.vote_text(vote)}", markup=False)

    def action_next_pair(self) -> None:
        if not self._comparing():
            self._propose()

    @work(thread=True, exclusive=True, group="next-pair", exit_on_error=False)
    def _propose(self) -> None:
        # Ranking (a bootstrap) and finding each model's file take a moment: a worker.
        from tui.core.compare.votes import propose_pair
        from tui.core.engine.base import EngineError
        from tui.core.engine.resolve import find_local, is_remote

        catalogue = self.app.catalogue
        context = self.app.context

        def usable(spec: str) -> bool:
            if is_remote(spec):
                return True
            try:
                return find_local(spec, catalogue, context).path.is_file()
            except EngineError:
                return False  # its file is gone: nothing to run

        self.post_message(self.PairProposed(propose_pair(self.store, usable)))

    @on(PairProposed)
    def _pair_proposed(self, message: PairProposed) -> None:
        proposal = message.proposal
        if proposal is None:
            self.notify("Compare two models you have here first: the next pair comes from "
                        "the models your comparisons ran", severity="warning")  # fmt: skip
            return
        self.choices = [ModelChoice(spec) for spec in proposal.specs]
        self._show_choices()
        self.query_one("#blind", Checkbox).value = True
        self.query_one("#set-path", Input).value = ""
        prompt = self.query_one("#prompt", TextArea)
        if proposal.prompt:
            prompt.load_text(proposal.prompt)
        prompt.focus()
        a, b = (one_line(name, 60) for name in proposal.names)
        ask = "ctrl+r runs it blind" if proposal.prompt else "write a prompt, ctrl+r runs it blind"
        self.notify(f"Next pair: {a} and {b} ({one_line(proposal.why)}); {ask}",
                    title="Judge where it matters", markup=False)  # fmt: skip

    # -- prompt-set grid -------------------------------------------------------------------------

    def _show_grid(self) -> None:
        result = self.result
        grid = self.query_one("#grid", DataTable)
        grid.clear(columns=True)
        columns = result.by_letter()
        grid.add_column("prompt", key="prompt")
        for column in columns:
            grid.add_column(Content(column.name(result.revealed)), key=str(column.index))
        changed = {(c.prompt_id, c.model) for c in self.changes}
        for row, prompt in enumerate(result.config.prompts):
            marks = ["Δ " if (prompt.id, c.spec) in changed else "" for c in columns]
            texts = [one_line(answer_text(result.cell(row, c.index)), 60) for c in columns]
            cells = [Content(mark + text) for mark, text in zip(marks, texts, strict=True)]
            grid.add_row(Content(one_line(prompt.prompt, 40)), *cells, key=str(row))
        self.query("#grid, #grid-detail").set(display=True)

    @on(DataTable.CellHighlighted, "#grid")
    def _grid_cell(self, event: DataTable.CellHighlighted) -> None:
        result = self.result
        row = event.coordinate.row
        column_index = event.coordinate.column - 1
        if result is None or column_index < 0 or row >= len(result.config.prompts):
            return
        column = result.by_letter()[column_index]
        cell = result.cell(row, column.index)
        text = f"{clean(answer_text(cell))}\n{stats_line(column, cell)}"
        self.query_one("#grid-detail", Static).update(Content(text))

    # -- history, reopen, re-run, export ---------------------------------------------------------

    def action_history(self) -> None:
        try:
            saved = self.store.list()
        except StorageError as error:
            show_notice(self, error)
            return
        self.app.push_screen(HistoryScreen(saved), self._history_chosen)

    async def _history_chosen(self, choice: tuple[str, int] | None) -> None:
        if choice is None:
            return
        what, run_id = choice
        try:
            saved = self.store.load(run_id)
        except StorageError as error:
            show_notice(self, error)
            return
        except CompareError as error:
            show_error(self, error)
            return
        if what == "rerun":
            self._start(lambda: saved.config, parent_id=saved.id)
        elif what in ("markdown", "jsonl"):
            self._export(saved, (what,))
        else:
            await self.reopen(saved)

    async def reopen(self, saved: ComparisonResult) -> None:
        """Show a saved comparison as it ended."""
        await self._show_result(saved, None)
        self.choices = list(saved.config.models)
        self._show_choices()
        self.query_one("#prompt", TextArea).load_text(saved.config.prompts[0].prompt)
        self.query_one("#system", Input).value = saved.config.system_prompt
        for column in saved.columns:
            widget = self._column(column.index)
            await widget.markdown.update(clean(answer_text(saved.cell(0, column.index))))
        if len(saved.config.prompts) > 1:
            self._show_grid()
        self._show_status()
        self._focus_next_step()  # its models are chosen again: the prompt, to change it and run it

    def action_export(self) -> None:
        if self.result is None or self.result.id is None:
            self.notify("Nothing saved to export yet", severity="warning")
            return
        self._export(self.result, ("markdown", "jsonl"))

    def _export(self, result: ComparisonResult, kinds: tuple[str, ...]) -> None:
        folder = self.app.context.paths.data_dir / "exports"
        written = []
        for kind in kinds:
            path = folder / f"comparison-{result.id}.{'md' if kind == 'markdown' else 'jsonl'}"
            try:
                write_atomic(path, result.to_markdown() if kind == "markdown" else result.to_jsonl())
            except StorageError as error:
                show_notice(self, error)
                return
            written.append(str(path))
        self.notify("Exported to " + ", ".join(written), markup=False)
