"""Presets: list, create, edit, duplicate and delete them, and make one a model's default.

`PresetsScreen` lists the built-in presets (marked, read-only) and the user's, with the models
each is the default of; `PresetForm` edits one (saving a built-in makes a copy of your own);
`DefaultForm` makes the selected preset a model's default. Everything goes through the context's
`PresetBook`; names and system prompts are the user's text, shown as plain `Text`/`Content`.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.validation import Number
from textual.widgets import Button, DataTable, Input, Label, Select, Static, TextArea

from tui.core.chat.presets import Preset, PresetBook, PresetError
from tui.core.config.settings import CHAT_LIMITS
from tui.core.engine.templates import template_choices
from tui.core.storage import StorageError
from tui.core.text import clean, one_line
from tui.ui.chat.widgets import AUTOMATIC, SAMPLING_FIELDS
from tui.ui.common.keys import KeyFooter

CONTEXT_LABEL = "Context length (empty: the chat settings')"


def _error(error: Exception) -> Content:
    return Content.styled(one_line(str(error), 300), "$text-error")


class PresetForm(ModalScreen[Preset | None]):
    """Create or edit a preset; dismisses with the preset saved, or None when cancelled."""

    CSS_PATH = "presets.tcss"
    HELP_TITLE = "Preset"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="preset_form.save"),
        Binding("escape", "cancel", "Cancel", id="preset_form.cancel"),
    ]

    def __init__(self, book: PresetBook, original: Preset | None = None) -> None:
        super().__init__()
        self.book = book
        self.original = original  # None: a new preset

    def compose(self) -> ComposeResult:
        p = self.original or Preset("")
        with VerticalScroll(id="preset-form") as form:
            if self.original is None:
                form.border_title = "New preset"
            elif p.built_in:
                form.border_title = "Built-in preset: saving makes a copy of your own"
            else:
                form.border_title = "Edit preset"
            form.border_subtitle = "ctrl+s save · escape cancel"
            yield Label("Name")
            yield Input(p.name, placeholder="e.g. terse answers", id="field-name")
            yield Label("System prompt")
            yield TextArea(p.system_prompt, id="field-system_prompt", soft_wrap=True,
                           tab_behavior="focus")  # fmt: skip
            for field in SAMPLING_FIELDS:
                yield from _number_field(*field, getattr(p, field[0]))
            yield Label("Prompt format")
            yield Select(
                [("Automatic", AUTOMATIC), *template_choices()],
                value=p.prompt_format or AUTOMATIC,
                allow_blank=False,
                id="field-prompt_format",
            )
            low, high = CHAT_LIMITS["context_length"]
            yield from _number_field("context_length", CONTEXT_LABEL, "int", low, high, p.context_length)
            yield Static(id="preset-form-error")
            with Horizontal(classes="preset-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def preset(self) -> Preset:
        """The form as a preset; PresetError naming the field that is not valid."""
        data: dict = {
            "name": self.query_one("#field-name", Input).value.strip(),
            "system_prompt": self.query_one("#field-system_prompt", TextArea).text,
        }
        for name, _, kind, *_ in SAMPLING_FIELDS:
            data[name] = _number(self.query_one(f"#field-{name}", Input).value, kind, name)
        context = self.query_one("#field-context_length", Input).value.strip()
        data["context_length"] = _number(context, "int", "context_length") if context else None
        chosen = self.query_one("#field-prompt_format", Select).value
        data["prompt_format"] = None if chosen == AUTOMATIC else chosen
        return Preset.from_dict(data)

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        try:
            preset = self.preset()
            if self.original is None:
                saved = self.book.create(preset)
            else:
                saved = self.book.edit(self.original.name, preset)
        except (PresetError, StorageError) as error:
            self.query_one("#preset-form-error", Static).update(_error(error))
            field = getattr(error, "field", "")
            if field:
                self.query_one(f"#field-{field}").focus()
            return
        self.dismiss(saved)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _number_field(name: str, label: str, kind: str, low: float, high: float, value) -> ComposeResult:
    """The label and input of a number setting (`value` None: empty)."""
    yield Label(label)
    yield Input(
        "" if value is None else str(value),
        id=f"field-{name}",
        type="number" if kind == "float" else "integer",
        validators=[Number(minimum=low, maximum=high)],
    )


def _number(text: str, kind: str, name: str) -> float | int:
    try:
        return float(text) if kind == "float" else int(text)
    except ValueError:
        expected = "a number" if kind == "float" else "a whole number"
        raise PresetError(f"expected {expected}, got {text!r}", field=name) from None


class DefaultForm(ModalScreen[bool]):
    """Make a preset the default of a model (or take a model's default away); dismisses with
    whether the book changed."""

    CSS_PATH = "presets.tcss"
    HELP_TITLE = "Default preset"
    BINDINGS = [
        Binding("ctrl+s", "save", "Set default", id="preset_default.save"),
        Binding("escape", "cancel", "Cancel", id="preset_default.cancel"),
    ]

    def __init__(self, book: PresetBook, preset: Preset) -> None:
        super().__init__()
        self.book = book
        self.preset = preset

    def compose(self) -> ComposeResult:
        from tui.ui.common.model_select import ModelSelect

        with Vertical(id="preset-default") as box:
            box.border_title = Text(f"Default preset: {one_line(self.preset.name)}")
            box.border_subtitle = "ctrl+s set · escape cancel"
            yield Label("Model: a .gguf file (its name counts), a catalogue id or URL#MODEL")
            yield Input(placeholder="e.g. SmolLM2-135M-Instruct.Q4_1.gguf", id="default-model")
            yield ModelSelect("or pick one of yours", id="default-pick")
            yield Static(id="preset-default-error")
            with Horizontal(classes="preset-buttons"):
                yield Button("Set default", variant="primary", id="set")
                yield Button("No default for this model", id="clear")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        from tui.ui.common.model_select import ModelSelect

        self.query_one("#default-pick", ModelSelect).rescan()

    @on(Select.Changed, "#default-pick")
    def _picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#default-model", Input).value = event.value

    def _set(self, name: str | None) -> None:
        spec = self.query_one("#default-model", Input).value.strip()
        if not spec:
            self.query_one("#preset-default-error", Static).update(_error("name a model first"))
            return
        try:
            self.book.set_default(spec, name)
        except (PresetError, StorageError) as error:
            self.query_one("#preset-default-error", Static).update(_error(error))
            return
        self.dismiss(True)

    @on(Button.Pressed, "#set")
    def action_save(self) -> None:
        self._set(self.preset.name)

    @on(Button.Pressed, "#clear")
    def _clear(self) -> None:
        self._set(None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class PresetsScreen(ModalScreen[None]):
    """Every preset, built-ins marked; the selected one's system prompt below."""

    CSS_PATH = "presets.tcss"
    HELP_TITLE = "Presets"
    BINDINGS = [
        Binding("n", "new", "New", id="presets.new", tooltip="Create a preset"),
        Binding("e", "edit", "Edit", id="presets.edit",
                tooltip="Edit the preset (a built-in one: as a copy of your own)"),
        Binding("c", "duplicate", "Duplicate", id="presets.duplicate",
                tooltip="Copy the preset under a new name"),
        Binding("d", "delete", "Delete", id="presets.delete", tooltip="Delete the preset (press twice)"),
        Binding("m", "default", "Default for model", id="presets.default",
                tooltip="Make the preset a model's default"),
        Binding("escape", "dismiss", "Close", id="presets.close"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.book: PresetBook = self.app.context.presets()
        self._delete_armed: str | None = None  # the preset a first "d" pointed at

    def compose(self) -> ComposeResult:
        with Vertical(id="presets-box") as box:
            box.border_title = "Presets"
            box.border_subtitle = "n new · e edit · c duplicate · d delete · m default · esc close"
            yield Static(id="presets-problem")
            yield DataTable(cursor_type="row", id="presets")
            with VerticalScroll(id="preset-detail"):
                yield Static(id="preset-system")
            yield Static(id="presets-result")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Name", "Kind", "Default for", "Settings")
        problem = self.query_one("#presets-problem", Static)
        problem.display = self.book.error is not None
        if self.book.error is not None:  # the built-ins work meanwhile
            problem.update(_error(self.book.error))
        self.reload()

    def reload(self, select: str | None = None) -> None:
        table = self.query_one(DataTable)
        current = select or getattr(self.selected(), "name", None)
        table.clear()
        defaults: dict[str, list[str]] = {}
        for model, name in self.book.defaults().items():
            defaults.setdefault(name, []).append(model)
        for preset in self.book.presets():
            table.add_row(
                Text(one_line(preset.name)),
                Text("built in" if preset.built_in else "yours",
                     style="italic" if preset.built_in else ""),
                Text(one_line(", ".join(defaults.get(preset.name, [])), 40)),
                Text(preset.summary()),
                key=preset.name,
            )  # fmt: skip
        if current is not None and self.book.find(current) is not None:
            table.move_cursor(row=table.get_row_index(current))
        self._show_detail()

    def selected(self) -> Preset | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.book.find(key or "")

    def _show_detail(self) -> None:
        preset = self.selected()
        system = preset.system_prompt if preset else ""
        self.query_one("#preset-system", Static).update(
            Content(clean(system)) if system else Content.styled("(no system prompt)", "$text-muted")
        )

    def _say(self, content: Content) -> None:
        self.query_one("#presets-result", Static).update(content)

    def on_data_table_row_highlighted(self) -> None:
        self._delete_armed = None
        self._show_detail()

    def on_data_table_row_selected(self) -> None:  # enter, or a click on the selected row
        self.action_edit()

    def action_new(self) -> None:
        self.app.push_screen(PresetForm(self.book), self._saved)

    def action_edit(self) -> None:
        if (preset := self.selected()) is not None:
            self.app.push_screen(PresetForm(self.book, preset), self._saved)

    def _saved(self, preset: Preset | None) -> None:
        if preset is not None:
            self.reload(select=preset.name)
            self._say(Content(f"saved {one_line(preset.name)}"))

    def action_duplicate(self) -> None:
        if (preset := self.selected()) is not None:
            self._change(lambda: self.book.duplicate(preset.name))

    def action_delete(self) -> None:
        preset = self.selected()
        if preset is None:
            return
        if preset.built_in or self._delete_armed == preset.name:
            self._delete_armed = None
            self._change(lambda: self.book.delete(preset.name), f"deleted {one_line(preset.name)}")
            return
        self._delete_armed = preset.name
        self._say(Content.styled(f"press d again to delete {one_line(preset.name)}", "$text-warning"))

    def action_default(self) -> None:
        if (preset := self.selected()) is not None:
            self.app.push_screen(DefaultForm(self.book, preset), self._default_set)

    def _default_set(self, changed: bool | None) -> None:
        if changed:
            self.reload()

    def _change(self, change, done: str = "") -> None:
        """Make a change to the book and show the outcome (what it made, or why not)."""
        try:
            made = change()
        except (PresetError, StorageError) as error:
            self._say(_error(error))
            return
        self.reload(select=made.name if isinstance(made, Preset) else None)
        self._say(Content(done or f"made {one_line(made.name)}"))
