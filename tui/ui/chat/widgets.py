"""The chat screen's parts: a message (Markdown, streamed, its reasoning folded above it), the
multi-line input, the settings panel."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.validation import Number
from textual.widgets import Collapsible, Input, Label, Markdown, Select, Static, TextArea

from tui.core.chat.store import Alternatives
from tui.core.config.settings import CHAT_LIMITS, Sampling
from tui.core.engine.base import AnswerStats
from tui.core.engine.templates import template_choices
from tui.core.text import clean
from tui.ui.common.markdown_stream import open_stream

ROLE_TITLES = {"user": "You", "assistant": "Assistant", "system": "System"}
# How an answer that did not end by itself ended, as its stats line says it.
FINISH_REASONS = {"length": "max tokens reached", "cancelled": "stopped", "context": "context full",
                  "error": "failed"}
_CODE_BLOCK = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1\s*$", re.MULTILINE | re.DOTALL)


def code_blocks(markdown: str) -> list[str]:
    """The fenced code blocks of a Markdown text, in order."""
    return [match.group(2).rstrip("\n") for match in _CODE_BLOCK.finditer(markdown)]


def stats_line(stats: AnswerStats) -> str:
    parts = [f"{stats.completion_tokens} tokens"]
    if stats.tokens_per_second:
        parts.append(f"{stats.tokens_per_second:.1f} tok/s")
    if stats.time_to_first_token is not None:
        parts.append(f"first token {stats.time_to_first_token * 1000:.0f} ms")
    if stats.draft_acceptance is not None:  # prompt lookup was on
        parts.append(f"lookup {stats.draft_accepted}/{stats.draft_proposed} drafts kept "
                     f"({stats.draft_acceptance:.0%})")
    if stats.finish_reason != "stop":
        parts.append(FINISH_REASONS[stats.finish_reason])
    return " · ".join(parts)


class AlternativeArrow(Static):
    """"‹" or "›" beside a message's "2/3": a click shows the alternative before or after it."""

    def __init__(self, step: int) -> None:
        super().__init__("‹" if step < 0 else "›", classes="alternative-arrow")
        self.step = step

    def on_click(self, event: events.Click) -> None:
        event.stop()
        view = self.query_ancestor(MessageView)
        view.post_message(MessageView.AlternativeRequested(view, self.step))


class ReasoningBlock(Collapsible):
    """A model's reasoning before its answer, folded: its length and time in the title, the text
    (plain, cleaned) inside. Enter on the title or a click unfolds it."""

    def __init__(self, text: str = "", seconds: float | None = None) -> None:
        self.text, self.seconds = text, seconds
        self.writing = seconds is None and not text
        self._body = Static(Content(clean(text)), classes="reasoning-body")
        super().__init__(self._body, title=self._label(), collapsed=True, classes="message-reasoning")

    def _label(self) -> str:
        length = f"{len(self.text):,} characters"
        if self.writing:
            return f"Reasoning… {length}"
        took = f" · {self.seconds:.1f} s" if self.seconds is not None else ""
        return f"Reasoning · {length}{took}"

    def append(self, fragment: str) -> None:
        self.text += fragment
        self._show()

    def finish(self, text: str, seconds: float | None) -> None:
        """The reasoning as the session kept it (blank space trimmed) and how long it took."""
        self.text, self.seconds, self.writing = text, seconds, False
        self._show()

    def _show(self) -> None:
        self._body.update(Content(clean(self.text)))
        self.title = self._label()


class MessageView(Vertical, can_focus=True):
    """One message: a title line ("‹ 2/3 ›" when it has alternatives), an answer's reasoning folded
    (when it has one), and its text as Markdown (model text is cleaned, never markup)."""

    BINDINGS = [
        Binding("c", "copy", "Copy", id="chat.message.copy", tooltip="Copy this message (OSC 52 clipboard)"),
        Binding("b", "copy_code", "Copy code", id="chat.message.copy_code",
                tooltip="Copy this message's last code block"),
        Binding("e", "edit", "Edit", id="chat.message.edit", tooltip="Edit this question and send it again"),
        Binding("t", "toggle_reasoning", "Reasoning", id="chat.message.reasoning",
                tooltip="Unfold or fold this answer's reasoning"),
    ]

    @dataclass
    class EditRequested(Message):
        view: MessageView

    @dataclass
    class AlternativeRequested(Message):
        """Show the alternative `step` places from this message's (a click on an arrow)."""

        view: MessageView
        step: int

    def __init__(
        self,
        role: str,
        text: str = "",
        *,
        message_id: int | None = None,
        note: str = "",
        alternatives: Alternatives | None = None,
        reasoning: str = "",
        reasoning_seconds: float | None = None,
    ) -> None:
        super().__init__(classes=f"message -{role}")
        self.role = role
        self.text = text  # the raw answer as the model wrote it (exported and copied as such)
        self.message_id = message_id
        self.note = note
        self.alternatives = alternatives
        self._reasoning = (reasoning, reasoning_seconds)
        self._stream = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="message-head"):
            yield Static(self._title(), classes="message-title")
            yield AlternativeArrow(-1)
            yield Static(classes="alternative-label")
            yield AlternativeArrow(1)
        if self._reasoning[0]:  # built only for a message that has one
            yield ReasoningBlock(*self._reasoning)
        yield Markdown(clean(self.text), classes="message-body")

    def on_mount(self) -> None:
        self.set_alternatives(self.alternatives)

    def set_alternatives(self, alternatives: Alternatives | None) -> None:
        """Show "‹ 2/3 ›" (nothing for a message without alternatives)."""
        self.alternatives = alternatives
        several = alternatives is not None and alternatives.count > 1
        for part in self.query(".alternative-arrow, .alternative-label"):
            part.display = several
        if several:
            self.query_one(".alternative-label", Static).update(alternatives.label)

    @property
    def reasoning(self) -> ReasoningBlock | None:
        return next(iter(self.query_children(ReasoningBlock)), None)

    def _title(self) -> Content:
        title = Content.styled(ROLE_TITLES[self.role], "bold")
        return Content.assemble(title, ("  " + self.note, "dim")) if self.note else title

    @property
    def body(self) -> Markdown:
        return self.query_one(".message-body", Markdown)

    def set_note(self, note: str) -> None:
        self.note = note
        self.query_one(".message-title", Static).update(self._title())

    async def stream_append(self, fragment: str) -> None:
        """Append streamed text (the caller coalesces: a few calls a second)."""
        self.text += fragment
        if self._stream is None:
            self._stream = await open_stream(self.body)
        await self._stream.write(clean(fragment))

    async def reasoning_append(self, fragment: str) -> None:
        """Append streamed reasoning, into a folded block above the answer."""
        block = self.reasoning
        if block is None:
            block = ReasoningBlock()
            await self.mount(block, before=self.body)
        block.append(fragment)

    def finish_reasoning(self, text: str, seconds: float | None) -> None:
        if (block := self.reasoning) is not None:
            block.finish(text, seconds)

    def action_toggle_reasoning(self) -> None:
        if (block := self.reasoning) is None:
            self.notify("This message has no reasoning", severity="warning")
            return
        block.collapsed = not block.collapsed

    async def finish(self, text: str | None = None) -> None:
        """End streaming: one full update, so a code fence left half open mid-stream renders right."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        await self.set_text(self.text if text is None else text)

    async def set_text(self, text: str) -> None:
        self.text = text
        await self.body.update(clean(text))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify(f"Copied the message ({len(self.text):,} characters)")

    def action_copy_code(self) -> None:
        blocks = code_blocks(self.text)
        if not blocks:
            self.notify("This message has no code block", severity="warning")
            return
        self.app.copy_to_clipboard(blocks[-1])
        self.notify(f"Copied a code block ({len(blocks[-1]):,} characters)")

    def action_edit(self) -> None:
        if self.role != "user":
            self.notify("Only your own messages can be edited", severity="warning")
            return
        self.post_message(self.EditRequested(self))


class MessageList(VerticalScroll):
    """The conversation; follows the answer as it grows unless the user scrolled up."""


class ChatInput(TextArea):
    """Multi-line input: Enter sends, shift/alt+Enter or ctrl+j starts a new line, up/down recall history."""

    BINDINGS = [
        Binding("enter", "submit", "Send", priority=True, id="chat.send", tooltip="Send the message"),
        Binding("shift+enter,alt+enter,ctrl+j", "newline", "New line", show=False, priority=True,
                id="chat.newline", tooltip="Start a new line in the message"),
    ]

    @dataclass
    class Submitted(Message):
        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.sent: list[str] = []
        self._recall = 0  # 0: the draft; n: the n-th last sent message
        self._draft = ""

    # Both keys are priority bindings (TextArea would take Enter for itself), so they run when the
    # app sees the key, before this widget has taken the characters typed just before it when
    # they arrived in one read (a fast typist, SSH): act after those, in this widget's own queue.
    def action_submit(self) -> None:
        self.call_later(self._submit)

    def action_newline(self) -> None:
        self.call_later(self.insert, "\n")

    def _submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        if not self.sent or self.sent[-1] != text:
            self.sent.append(text)
        self._recall = 0
        self.clear()
        self.post_message(self.Submitted(text))

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == 0 and self._recall < len(self.sent):
            if self._recall == 0:
                self._draft = self.text
            self._recall += 1
            self._show(self.sent[-self._recall])
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        last_line = self.document.line_count - 1
        if not select and self.cursor_location[0] == last_line and self._recall > 0:
            self._recall -= 1
            self._show(self.sent[-self._recall] if self._recall else self._draft)
            return
        super().action_cursor_down(select)

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)


# (field, label, kind, minimum, maximum): kind "float" or "int"; as the settings declare them
SAMPLING_FIELDS = tuple(
    (f.name, f.metadata["label"], type(f.default).__name__, *f.metadata["limits"]) for f in fields(Sampling)
)
LOAD_FIELDS = (
    ("context_length", "Context length (reloads)", "int", *CHAT_LIMITS["context_length"]),
    ("gpu_layers", "GPU layers (-1: all; reloads)", "int", -1, 1000),
    ("prompt_lookup", "Prompt lookup: tokens drafted (0: off; reloads)", "int", 0, 64),
)
POLICY_CHOICES = [("Drop the oldest turns", "drop_oldest"), ("Stop and say so", "stop")]
AUTOMATIC = "auto"
NO_PRESET = "\x00none"  # the preset select's "None": a value no preset name can be (one line)


def preset_choices(names: Sequence[str]) -> list[tuple[Content, str]]:
    """The preset select's options: names are the user's text, shown as it is."""
    return [
        (Content("None: the chat settings"), NO_PRESET),
        *((Content(name), name) for name in names),
    ]


class SettingsPanel(VerticalScroll):
    """The preset, then sampling, loading, prompt format, overflow policy, system prompt and answer
    format (a JSON schema or GBNF grammar file, loaded on Enter) of the chat. `values` are the chat's
    (the session's), with `preset` (a name or None)."""

    @dataclass
    class Changed(Message):
        name: str
        value: object

    @dataclass
    class PresetChosen(Message):
        name: str | None

    def __init__(self, values: dict, presets: Sequence[str] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        self.values = dict(values)
        self.presets = list(presets)

    def compose(self) -> ComposeResult:
        yield Label("Preset")
        yield self._select("preset", preset_choices(self.presets))
        yield Label("System prompt")
        yield TextArea(
            str(self.values.get("system_prompt", "")),
            id="set-system_prompt",
            soft_wrap=True,
            tab_behavior="focus",
        )
        for name, label, kind, low, high in SAMPLING_FIELDS + LOAD_FIELDS:
            yield Label(label)
            yield Input(
                str(self.values.get(name, "")),
                id=f"set-{name}",
                type="number" if kind == "float" else "integer",
                validators=[Number(minimum=low, maximum=high)],
                validate_on=["changed", "submitted"],
            )
        yield Label("Prompt format")
        yield self._select("template", [("Automatic", AUTOMATIC), *template_choices()])
        yield Label("When the context is full")
        yield self._select("context_policy", POLICY_CHOICES)
        yield Label("Answer format: a JSON schema (.json) or GBNF grammar (.gbnf) file")
        yield Input(placeholder="Enter loads it; empty: free text", id="set-response_format")
        yield Static(Content("free text"), id="response-format-status")

    @on(Input.Submitted, "#set-response_format")
    def _format_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Changed("response_format", event.value.strip()))

    def show_response_format(self, path: str, description: str) -> None:
        """Show the answer format in use (after a load, or a refused one: the one still in use)."""
        with self.prevent(Input.Changed):
            self.query_one("#set-response_format", Input).value = path
        self.query_one("#response-format-status", Static).update(Content(description))

    @on(Input.Changed)
    def _number_changed(self, event: Input.Changed) -> None:
        event.stop()
        name = (event.input.id or "").removeprefix("set-")
        kind = next((k for n, _, k, _, _ in SAMPLING_FIELDS + LOAD_FIELDS if n == name), None)
        if kind is None:  # the answer format's path: loaded on Enter
            return
        if event.validation_result is not None and not event.validation_result.is_valid:
            return
        try:
            value = float(event.value) if kind == "float" else int(event.value)
        except ValueError:
            return
        if self.values.get(name) != value:
            self.values[name] = value
            self.post_message(self.Changed(name, value))

    @on(Select.Changed)
    def _choice_changed(self, event: Select.Changed) -> None:
        event.stop()
        name = (event.select.id or "").removeprefix("set-")
        unset = NO_PRESET if name == "preset" else AUTOMATIC  # the choice that means None
        value = None if event.value == unset else event.value
        if self.values.get(name) != value:
            self.values[name] = value
            self.post_message(self.PresetChosen(value) if name == "preset" else self.Changed(name, value))

    @on(TextArea.Changed, "#set-system_prompt")
    def _system_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.values["system_prompt"] = event.text_area.text
        self.post_message(self.Changed("system_prompt", event.text_area.text))

    def _select(self, name: str, choices: Sequence[tuple[object, str]]) -> Select:
        return Select(choices, value=self._shown(name), id=f"set-{name}", allow_blank=False)

    def _shown(self, name: str) -> str:
        """The choice the select of the setting `name` shows for its value (a preset deleted since:
        none)."""
        value = self.values.get(name)
        if name == "preset":
            return value if value in self.presets else NO_PRESET
        return value or (AUTOMATIC if name == "template" else "drop_oldest")

    def show_presets(self, names: Sequence[str]) -> None:
        """The presets there are now (the preset manager may have changed them)."""
        if list(names) == self.presets:
            return
        self.presets = list(names)
        select = self.query_one("#set-preset", Select)
        with self.prevent(Select.Changed):
            select.set_options(preset_choices(self.presets))
            select.value = self._shown("preset")

    def show_values(self, values: dict) -> None:
        """Show another conversation's settings, or a preset's (without posting Changed)."""
        self.values = dict(values)
        with self.prevent(Input.Changed, Select.Changed, TextArea.Changed):
            for name in ("preset", "template", "context_policy"):
                self.query_one(f"#set-{name}", Select).value = self._shown(name)
            self.query_one("#set-system_prompt", TextArea).load_text(str(values.get("system_prompt", "")))
            for name, *_ in SAMPLING_FIELDS + LOAD_FIELDS:
                self.query_one(f"#set-{name}", Input).value = str(values.get(name, ""))
