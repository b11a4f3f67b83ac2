"""Chat: past conversations (searched as you type) | the conversation's branch shown, streaming,
with its input | the preset and settings (F2).

The screen renders a `ChatSession` (`tui.core.chat.session`: load, fit the context, stream,
persist) and forwards keys to it; the session's blocking calls run in thread workers, so loading,
generation and the store's writes stay off the UI thread. The answer's text goes through the
`TextPump` (`tui.ui.common.pump`, paced); the first token wakes it, so the time to first token is the
engine's. A reasoning block streams apart, into a folded block above the answer (f5 or t unfolds it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Header, Input, Label, OptionList, Select, Static
from textual.worker import Worker

from tui.core.chat.session import Answered, Applying, ChatSession
from tui.core.chat.store import Conversation, ConversationStore, SearchHit, StoredMessage
from tui.core.engine.base import AnswerStats, EngineError, ModelInfo
from tui.core.engine.base import Message as ChatMessage
from tui.core.engine.structured import ResponseFormatError
from tui.core.engine.templates import template_choices
from tui.core.errors import LlmtuiError
from tui.core.storage import StorageError
from tui.core.text import clean, one_line
from tui.ui.chat.conversations import ConversationList, ConversationsPane
from tui.ui.chat.widgets import ChatInput, MessageList, MessageView, SettingsPanel, stats_line
from tui.ui.common.commands import PaletteCommand
from tui.ui.common.errors import show_error
from tui.ui.common.keys import KeyFooter, leave_text_input
from tui.ui.common.model_select import ModelOffer, ModelSelect
from tui.ui.common.pump import TextPump, ui_share
from tui.ui.common.storage import ShowsStorageNotices, show_notice
from tui.ui.common.workers import ReportsWorkerFailures

# The pump's keys: one answer streams at a time, its reasoning apart from it.
ANSWER = "answer"
REASONING = "reasoning"
# Where the prompt format in use comes from, as the model bar says it after the format's label (the
# label of a GGUF's own format, "embedded in the GGUF", says it already).
TEMPLATE_SOURCES = {"gguf": "", "family": " (guessed)", "user": " (your choice)", "server": " (the server's)"}


class OpenModelScreen(ModalScreen[str | None]):
    """Ask for a model: picked from My models or a saved server, or typed: a .gguf path, a
    catalogue model, owner/repo[:QUANT] or URL#MODEL."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="chat.open.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="open-model"):
            yield Label("Open a model from My models or a server", id="open-title")
            yield ModelSelect("pick a model", id="open-pick")
            yield Label("or type a .gguf path, a catalogue model, owner/repo[:QUANT] or URL#MODEL")
            yield Input(placeholder="~/models/mistral-7b-instruct-v0.2.Q4_K_M.gguf", id="open-spec")

    def on_mount(self) -> None:
        self.query_one(ModelSelect).rescan()
        self.query_one("#open-spec", Input).focus()

    @on(ModelSelect.Scanned)
    def _scanned(self) -> None:
        picker = self.query_one(ModelSelect)
        if picker.scanned and not picker.models:
            self.query_one("#open-title", Label).update(
                "No models here or on saved servers yet: download one in My models (3), "
                "add a server (F4), or type one below"
            )

    @on(Select.Changed, "#open-pick")
    def _picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.dismiss(event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class ChatScreen(ReportsWorkerFailures, ShowsStorageNotices, Screen):
    CSS_PATH = "chat.tcss"
    AUTO_FOCUS = ""  # what has the focus on entering depends on what there is (_focus_on_entry)
    HELP_TITLE = "Chat"
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="chat.stop", tooltip="Stop the answer being written"),
        Binding("ctrl+n", "new_chat", "New chat", id="chat.new", tooltip="Start a new conversation"),
        Binding("ctrl+r", "regenerate", "Regenerate", id="chat.regenerate",
                tooltip="Write the last answer again (the old one is kept beside it)"),
        Binding("ctrl+up", "edit_last", "Edit", id="chat.edit",
                tooltip="Edit your last message and send it again"),
        Binding("f3", "copy_last", "Copy answer", id="chat.copy",
                tooltip="Copy the last answer to the clipboard (OSC 52)"),
        Binding("f4", "copy_code", "Copy code", show=False, id="chat.copy_code",
                tooltip="Copy the last code block of the last answer"),
        Binding("f5", "toggle_reasoning", "Reasoning", id="chat.reasoning",
                tooltip="Unfold or fold the last answer's reasoning"),
        Binding("ctrl+o", "open_model", "Open model", id="chat.open", tooltip="Chat with another model"),
        Binding("f2", "toggle_settings", "Settings", id="chat.settings",
                tooltip="Show or hide the settings: sampling, context, GPU layers, prompt format"),
        Binding("ctrl+s", "export", "Export", show=False, id="chat.export",
                tooltip="Export this conversation as Markdown and JSON"),
        Binding("ctrl+l", "focus_conversations", "Conversations", show=False, id="chat.conversations",
                tooltip="Go to the list of past conversations"),
        Binding("ctrl+f", "search", "Search", show=False, id="chat.search",
                tooltip="Search every conversation (the list shows the messages found)"),
        Binding("left_square_bracket,alt+left", "alternative(-1)", "‹ Alt", id="chat.alternative.previous",
                tooltip="Show the previous alternative of the focused message (or the last one)"),
        Binding("right_square_bracket,alt+right", "alternative(1)", "Alt ›", id="chat.alternative.next",
                tooltip="Show the next alternative of the focused message (or the last one)"),
        Binding("ctrl+b", "fork", "Fork", show=False, id="chat.fork",
                tooltip="Fork from here: a new conversation up to the focused message (or the last)"),
    ]

    # -- messages from the workers -----------------------------------------------------------------

    @dataclass
    class ModelLoaded(Message):
        spec: str
        info: ModelInfo

    @dataclass
    class ModelFailed(Message):
        spec: str
        error: EngineError

    class FirstToken(Message):
        """The answer's first text came: it is shown at once, not at the pump's next render."""

    @dataclass
    class AnswerEnded(Message):
        ended: Answered

    @dataclass
    class ContextDropped(Message):
        dropped: int

    @dataclass
    class TokensCounted(Message):
        used: int

    @dataclass
    class TemplateChanged(Message):
        info: ModelInfo

    @dataclass
    class ConversationDeleted(Message):
        highlighted: int | None

    @dataclass
    class BranchShown(Message):
        conversation: Conversation
        focus: int  # the message to focus

    @dataclass
    class Forked(Message):
        conversation_id: int

    @dataclass
    class HitSelected(Message):
        hit: SearchHit

    def __init__(self) -> None:
        super().__init__()
        context = self.app.context  # a bad settings file: the app says so, defaults apply
        # A write the disk refuses waits in the store and is made later; the store says so.
        self.store = ConversationStore(context.paths.database, report=self.store_report)
        self.session = ChatSession(context, self.store, catalogue=self.app.catalogue)
        self.info: ModelInfo | None = None  # the model shown (the session's once it said so)
        self.answering = False
        self.last_stats: AnswerStats | None = None
        self.last_error: str | None = None
        self.context_used = 0
        self._cancel = threading.Event()
        self._answer_view: MessageView | None = None
        self._question_view: MessageView | None = None
        self._editing: MessageView | None = None
        self._beside: MessageView | None = None
        self._pump = TextPump(self, self._drain)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="chat-body"):
            yield ConversationsPane(self.store, id="conversations-pane")
            with Vertical(id="chat-main"):
                yield Static(id="model-bar")
                yield ModelOffer(self.app.catalogue, id="offer")
                yield MessageList(id="messages")
                yield Static(id="meter")
                yield ChatInput(id="chat-input")
            yield SettingsPanel(self._panel_values(), self._preset_names(), id="settings")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._show_model_bar()
        self._show_meter()
        self._refresh_conversations()

    def on_screen_resume(self) -> None:
        self.session.presets_changed()  # F6 may have changed them
        panel = self.query_one(SettingsPanel)
        panel.show_presets(self._preset_names())
        panel.show_values(self._panel_values())
        if self.session.spec is None:  # no model yet: offer what is here now (and a download)
            self.query_one(ModelOffer).rescan()
        if self.focused is None:
            self._focus_on_entry()

    def _focus_on_entry(self) -> None:
        """The input when there is a model to talk to; without one, the past conversations (enter
        continues one, with its model), or with none yet the offer of models (enter opens the first
        one here, or gets one)."""
        if self.session.spec is not None:
            self.query_one(ChatInput).focus()
        elif self.query_one(ConversationList).option_count:
            self.action_focus_conversations()
        elif (offer := self.query_one(ModelOffer)).display:
            offer.focus()

    @on(ModelOffer.Chosen)
    def _offer_chosen(self, event: ModelOffer.Chosen) -> None:
        if event.spec is not None:
            self.open_model(event.spec)
        elif event.download is not None:
            self._get_then_open(event.download)

    def _get_then_open(self, name: str) -> None:
        """Download `name` (the quant picker asks which file), then chat with it."""
        from tui.ui.download.screen import get_then_open

        get_then_open(self.app, name, "chat")

    def storage_changed(self) -> None:
        self._refresh_conversations()  # the list has more now

    def on_unmount(self) -> None:
        self._pump.close()
        self._cancel.set()
        threading.Thread(target=self.session.close, daemon=True).start()
        self.store.close()

    # -- the model ---------------------------------------------------------------------------------

    def open_model(
        self,
        spec: str,
        *,
        keep_conversation: bool = False,
        options: dict | None = None,
        preset: str | None = None,
        response_format: str | None = None,
    ) -> None:
        """Load `spec` (from the browse screen, the CLI or ctrl+o) and chat with it.

        `options`: settings to use from now on (`llmtui chat MODEL --temperature 0 ...`), by the
        names of the settings panel, over `preset` (a preset's name, `--preset`); `response_format`:
        a schema or grammar file to answer in (`--json-schema`, `--grammar`)."""
        if not self.is_mounted:  # opened with the switch to this mode: load once composed
            self.call_later(self.open_model, spec, keep_conversation=keep_conversation,
                            options=options, preset=preset,
                            response_format=response_format)  # fmt: skip
            return
        if preset is not None:
            try:
                self.session.use_preset(preset)
            except LlmtuiError as error:
                show_error(self, error)
        if options:
            self.session.overrides.update(options)
        if options or preset is not None:
            self.query_one(SettingsPanel).show_values(self._panel_values())
        if response_format:
            self._set_response_format(response_format)
        conversation = self.session.conversation
        if not keep_conversation and conversation is not None and conversation.model != spec:
            self.call_later(self.action_new_chat)
        self.session.spec = spec
        self.info = None
        self.last_error = None
        self.query_one(ModelOffer).display = False
        self._show_model_bar(loading=True)
        self.query_one(ChatInput).focus()  # a model chosen: what comes next is the question
        self._load(spec)

    @work(thread=True, exclusive=True, group="model", exit_on_error=False)
    def _load(self, spec: str) -> None:
        try:
            self.post_message(self.ModelLoaded(spec, self.session.load(spec)))
        except EngineError as error:
            self.post_message(self.ModelFailed(spec, error))

    @on(ModelLoaded)
    def _model_loaded(self, event: ModelLoaded) -> None:
        if event.spec != self.session.spec:  # another model was asked for meanwhile
            return
        self.info = event.info
        self.query_one(SettingsPanel).show_values(self._panel_values())  # its default preset
        self._show_model_bar()
        self._count_context()

    @on(ModelFailed)
    def _model_failed(self, event: ModelFailed) -> None:
        from tui.core.engine.resolve import NotDownloaded

        if event.spec != self.session.spec:
            return
        self.last_error = event.error.message
        self._show_model_bar()
        if isinstance(event.error, NotDownloaded):  # offer the download instead of an error
            self._get_then_open(event.error.name)
        else:
            show_error(self, event.error, title="Cannot open the model")

    def _show_model_bar(self, loading: bool = False) -> None:
        bar = self.query_one("#model-bar", Static)
        bar.remove_class("-error", "-guess")
        if self.session.spec is None:
            bar.update(Content("No model yet: pick one below, press ctrl+o to open another, or choose one "
                               "under Models (1)."))
            return
        name = one_line(self.info.name if self.info else self.session.spec, 80)
        if loading:
            bar.update(Content.assemble((name, "bold"), "  loading…"))
            return
        if self.info is None:
            bar.add_class("-error")
            bar.update(Content.assemble((name, "bold"), "  ", one_line(self.last_error or "not loaded", 300)))
            return
        info = self.info
        label = info.template_label or info.template_name or "server"
        source = TEMPLATE_SOURCES.get(info.template_source, f" ({info.template_source})")
        parts = [(name, "bold"), f"  ctx {info.context_size:,}", f"  ·  format: {label}{source}"]
        if self.session.preset is not None:  # the user's name for it: text, never markup
            parts.append(f"  ·  preset: {one_line(self.session.preset.name, 60)}")
        if info.template_is_guess:
            bar.add_class("-guess")
            parts.append(f"  ⚠ {one_line(info.template_reason, 200)}: check it under Settings (F2)")
        bar.update(Content.assemble(*parts))

    # -- sending and answering --------------------------------------------------------------------

    @on(ChatInput.Submitted)
    async def _submitted(self, event: ChatInput.Submitted) -> None:
        if self.answering:
            self.notify("An answer is being written: Esc stops it", severity="warning")
            return
        if self.session.backend is None:
            loading = self.session.spec and self.info is None and not self.last_error
            what = "the model is still loading" if loading else "open a model first (ctrl+o)"
            self.notify(f"Cannot send: {what}", severity="warning")
            return
        text = event.text
        if self._editing is not None:
            view, self._editing = self._editing, None
            self.query_one(ChatInput).border_title = None
            await self._remove_after(view)
            edit = (view.message_id, text) if view.message_id is not None else None
            await view.set_text(text)
            await self._start_answer(edited=view, edit=edit)
        else:
            await self._start_answer(MessageView("user", text))

    def _turns(self) -> list[ChatMessage]:
        return [ChatMessage(v.role, v.text) for v in self._views() if v is not self._answer_view]

    async def _start_answer(
        self,
        question: MessageView | None = None,
        *,
        edited: MessageView | None = None,
        edit: tuple[int, str] | None = None,
        redo: int | None = None,
    ) -> None:
        """Ask for the answer (to `question`, a new message, if given; or to `edited`, a question
        shown and changed, kept beside the old one by `edit`), then show it coming. The request
        goes first: the views are mounted while the model reads the prompt. The answer's first
        text is handled only after the caller returns."""
        turns = self._turns()
        self._answer_view = view = MessageView("assistant", note="writing…")
        self._question_view = question if question is not None else edited
        # The message that gets an alternative ("2/2" once it is stored).
        self._beside = view if redo is not None else edited if edit is not None else None
        self._pump.clear()
        self._cancel = threading.Event()
        self.answering = True
        self._generate(turns, question.text if question is not None else None, edit, redo, self._cancel)
        messages = self._messages()
        await messages.mount_all([question, view] if question is not None else [view])
        messages.anchor()
        # A blinking cursor repaints twice a second: CPU the model can use while it answers.
        self.query_one(ChatInput).cursor_blink = False
        self._pump.start(ui_share([self.info]))

    @work(thread=True, group="answer", exit_on_error=False)
    def _generate(self, turns, question, edit, redo, cancel: threading.Event) -> None:
        events = self.session.answer(turns, question=question, cancel=cancel, edit=edit, redo=redo,
                                     on_dropped=lambda count: self.post_message(self.ContextDropped(count)))
        for index, event in enumerate(events):
            if isinstance(event, Answered):
                self.post_message(self.AnswerEnded(event))
                return
            self._pump.put(REASONING if event.reasoning else ANSWER, event.text)
            if index == 0:
                self.post_message(self.FirstToken())

    @on(FirstToken)
    async def _first_token(self) -> None:
        await self._pump.wake()

    async def _drain(self) -> None:
        """Move streamed text into the answer's reasoning block and Markdown (the pump calls it)."""
        view = self._answer_view
        if view is None:
            return
        if reasoning := self._pump.take(REASONING):
            await view.reasoning_append(reasoning)
        if fragment := self._pump.take(ANSWER):
            await view.stream_append(fragment)

    @on(AnswerEnded)
    async def _answer_ended(self, event: AnswerEnded) -> None:
        await self._end_answer(event.ended)

    def worker_failed(self, worker: Worker) -> None:
        """A bug in a worker (shown already): leave "loading…" or the answer in flight."""
        if worker.group == "model":
            self.last_error = clean(str(worker.error))
            self._show_model_bar()
        elif worker.group == "answer":
            self.call_later(self._end_answer, None, clean(str(worker.error)))

    async def _end_answer(self, ended: Answered | None, failure: str | None = None) -> None:
        """`ended`: how the session ended it; None when its worker failed with `failure`."""
        await self._pump.stop()
        self.query_one(ChatInput).cursor_blink = True
        view, self._answer_view = self._answer_view, None
        question, self._question_view = self._question_view, None
        beside, self._beside = self._beside, None
        if ended is not None and question is not None and ended.question_id is not None:
            question.message_id = ended.question_id
        if beside is question:
            self._show_alternatives(question)  # an edited question
        if view is None:
            self.answering = False
            return
        if ended is not None:  # the answer and reasoning as the session kept them
            view.finish_reasoning(ended.reasoning, ended.reasoning_seconds)
        await view.finish(ended.text if ended is not None else None)
        if ended is not None and ended.error is not None:
            failure = ended.error.message
            show_error(self, ended.error, title="The answer failed")
        if failure is not None:
            if not view.text and view.reasoning is None:
                await view.remove()
                if beside is view:  # an answer written again and lost: the old one is there
                    await self._reshow()
                self.answering = False
                return
            view.set_note(f"failed: {one_line(failure, 120)}")
        else:
            self.last_stats = ended.stats
            view.set_note(stats_line(ended.stats))
            if ended.stats.context_used:
                self.context_used = ended.stats.context_used
        view.message_id = ended.answer_id if ended is not None else None
        if beside is view:
            self._show_alternatives(view)  # an answer written again
        self._show_meter()
        self._refresh_conversations()
        self.answering = False  # last: whoever waits on it finds the answer stored and shown

    @on(ContextDropped)
    def _context_dropped(self, event: ContextDropped) -> None:
        self.notify(f"The conversation is longer than the context: the oldest {event.dropped} messages "
                    "were left out of this prompt (they stay here)", severity="warning")

    # -- the context meter -------------------------------------------------------------------------

    def _count_context(self) -> None:
        self._count_tokens(self._turns())

    @work(thread=True, exclusive=True, group="count", exit_on_error=False)
    def _count_tokens(self, turns: list[ChatMessage]) -> None:
        try:
            self.post_message(self.TokensCounted(self.session.count_tokens(turns)))
        except EngineError:
            pass  # the meter stays as it was; the next answer says what is wrong

    @on(TokensCounted)
    def _tokens_counted(self, event: TokensCounted) -> None:
        self.context_used = event.used
        self._show_meter()

    def _show_meter(self) -> None:
        meter = self.query_one("#meter", Static)
        if self.info is None:
            meter.update("")
            return
        size, used = self.info.context_size, self.context_used
        share = used / size if size else 0
        cells = 20
        filled = min(cells, round(share * cells))
        bar = "█" * filled + "░" * (cells - filled)
        drops = self.session.values["context_policy"] == "drop_oldest"
        policy = "drops oldest turns" if drops else "stops when full"
        parts = [f"context {bar} {used:,} / {size:,} tokens ({share:.0%}), {policy}"]
        if self.last_stats is not None:
            parts.append(stats_line(self.last_stats))
        meter.set_class(share >= 0.9, "-full")
        meter.update(Content("  ·  ".join(parts)))

    # -- actions -----------------------------------------------------------------------------------

    def action_stop(self) -> None:
        if self._editing is not None:
            self._editing = None
            chat_input = self.query_one(ChatInput)
            chat_input.clear()
            chat_input.border_title = None
            return
        if not self.answering:
            leave_text_input(self)  # nothing to stop: esc leaves the input (for the view keys)
            return
        self._cancel.set()
        self.session.stop()

    async def action_regenerate(self) -> None:
        if self.answering or self.session.backend is None:
            return
        views = self._views()
        if not views or views[-1].role != "assistant":
            self.notify("There is no answer to write again", severity="warning")
            return
        last = views[-1]
        await last.remove()
        await self._start_answer(redo=last.message_id)

    def action_edit_last(self) -> None:
        users = [v for v in self._views() if v.role == "user"]
        if not users:
            self.notify("Nothing to edit yet", severity="warning")
            return
        self._edit(users[-1])

    @on(MessageView.EditRequested)
    def _edit_requested(self, event: MessageView.EditRequested) -> None:
        self._edit(event.view)

    def _edit(self, view: MessageView) -> None:
        if self.answering:
            self.notify("Stop the answer first (Esc)", severity="warning")
            return
        self._editing = view
        chat_input = self.query_one(ChatInput)
        chat_input.load_text(view.text)
        chat_input.focus()
        chat_input.border_title = ("editing: Enter sends it again (the old one and its answers are kept), "
                                   "Esc cancels")

    def action_toggle_reasoning(self) -> None:
        answers = [v for v in self._views() if v.reasoning is not None]
        if not answers:
            self.notify("No answer here has reasoning", severity="warning")
            return
        answers[-1].action_toggle_reasoning()

    def action_copy_last(self) -> None:
        if (answer := self._last_answer()) is None:
            self.notify("No answer to copy yet", severity="warning")
        else:
            answer.action_copy()

    def action_copy_code(self) -> None:
        if (answer := self._last_answer()) is not None:
            answer.action_copy_code()

    def _last_answer(self) -> MessageView | None:
        return next((v for v in reversed(self._views()) if v.role == "assistant" and v.text), None)

    async def action_new_chat(self) -> None:
        self.action_stop()
        self.session.new_conversation()
        self._answer_view = None
        self.context_used = 0
        self.last_stats = None
        await self._messages().remove_children()
        self._show_meter()
        self._count_context()
        self.query_one(ChatInput).focus()

    def action_open_model(self) -> None:
        def chosen(spec: str | None) -> None:
            if spec:
                self.open_model(spec)

        self.app.push_screen(OpenModelScreen(), chosen)

    def action_toggle_settings(self) -> None:
        panel = self.query_one("#settings", SettingsPanel)
        panel.display = not panel.display
        if panel.display:
            panel.query_one("#set-system_prompt").focus()

    def action_focus_conversations(self) -> None:
        self.query_one(ConversationsPane).focus_list()

    def action_export(self) -> None:
        if self.session.conversation is None:
            self.notify("Nothing to export yet", severity="warning")
            return
        try:
            stem = self.session.export()
        except StorageError as error:
            show_notice(self, error)
            return
        self.notify(f"Exported to {stem}.md and .json", markup=False)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                f"Use the prompt format {label}",
                "chat prompt format",
                lambda name=name: self._apply(self.session.choose("template", name)),
            )
            for label, name in template_choices()
        ]

    # -- settings ----------------------------------------------------------------------------------

    @on(SettingsPanel.Changed)
    def _setting_changed(self, event: SettingsPanel.Changed) -> None:
        if event.name == "response_format":
            self._set_response_format(event.value)
        else:
            self._apply(self.session.choose(event.name, event.value))

    def _apply(self, applying: Applying) -> None:
        """Keep the settings with the conversation and apply them as the session says."""
        self._in_store(self.session.settings_changed)
        if applying == "reload":
            self.open_model(self.session.spec, keep_conversation=True)
        elif applying == "template":
            self._switch_template(self.session.values["template"])
        elif applying == "recount":
            self._show_meter()
            self._count_context()

    def _set_response_format(self, path: str) -> None:
        """Constrain the answers from now on to the schema or grammar in `path` ("": free text); a
        file that cannot be used is one notification and the format in use stays."""
        try:
            if (chosen := self.session.set_response_format(path)) is not None:
                self.notify(f"Answers now follow {clean(Path(chosen.source).name)}", markup=False)
        except ResponseFormatError as error:
            show_error(self, error)
        in_use = self.session.response_format
        self.query_one(SettingsPanel).show_response_format(
            in_use.source if in_use else "", clean(in_use.describe()) if in_use else "free text"
        )

    @on(SettingsPanel.PresetChosen)
    def _preset_chosen(self, event: SettingsPanel.PresetChosen) -> None:
        try:
            applying = self.session.use_preset(event.name)
        except LlmtuiError as error:  # a presets file broken meanwhile
            show_error(self, error)
            return
        self.query_one(SettingsPanel).show_values(self._panel_values())
        if self.info is not None:  # loading or failed, the bar names no preset
            self._show_model_bar()
        self._apply(applying)

    def _panel_values(self) -> dict:
        preset = self.session.preset
        return {**self.session.values, "preset": preset.name if preset is not None else None}

    def _preset_names(self) -> list[str]:
        return self.app.context.presets().names()

    @work(thread=True, exclusive=True, group="template", exit_on_error=False)
    def _switch_template(self, name: str | None) -> None:
        try:
            self.post_message(self.TemplateChanged(self.session.set_template(name)))
        except EngineError as error:
            self.post_message(self.ModelFailed(self.session.spec, error))

    @on(TemplateChanged)
    def _template_changed(self, event: TemplateChanged) -> None:
        self.info = event.info
        self._show_model_bar()
        self._count_context()

    @work(thread=True, group="store", exit_on_error=False)
    def _in_store(self, change: Callable[[], object]) -> None:
        """A write to the store, off the UI thread."""
        change()

    # -- past conversations -----------------------------------------------------------------------

    def _refresh_conversations(self) -> None:
        self.query_one(ConversationsPane).show_list(self.session.conversation_id)

    @on(ConversationList.DeleteRequested)
    async def _delete_conversation(self, event: ConversationList.DeleteRequested) -> None:
        if self.session.conversation_id == event.conversation_id:
            await self.action_new_chat()
        self._delete(event.conversation_id, self.query_one(ConversationList).highlighted)

    @work(thread=True, group="store", exit_on_error=False)
    def _delete(self, conversation_id: int, highlighted: int | None) -> None:
        self.session.delete_conversation(conversation_id)
        self.post_message(self.ConversationDeleted(highlighted))

    @on(ConversationDeleted)
    def _conversation_deleted(self, event: ConversationDeleted) -> None:
        self._refresh_conversations()
        self.query_one(ConversationList).focus_at(event.highlighted)  # new chat moved it to the input
        self.notify("Conversation deleted")

    @on(OptionList.OptionSelected, "#conversations")
    async def _conversation_selected(self, event: OptionList.OptionSelected) -> None:
        await self.open_conversation(int(event.option.id))

    async def open_conversation(self, conversation_id: int, focus: int | None = None) -> None:
        """Show a past conversation (the branch shown) and continue it with its model and
        settings; `focus`: that message gets the focus (a search hit)."""
        await self.action_new_chat()  # which stops an answer being written
        try:
            conversation = self.session.open_conversation(conversation_id)
        except StorageError as error:
            show_notice(self, error)
            return
        except KeyError:  # deleted by another copy of llmtui meanwhile
            self.notify("That conversation or message is gone", severity="warning")
            self._refresh_conversations()
            return
        self.query_one(SettingsPanel).show_values(self._panel_values())
        hit = await self._show_conversation(conversation, focus)
        if conversation.model != self.session.spec or self.session.backend is None:
            self.open_model(conversation.model, keep_conversation=True)
        else:
            self._count_context()
        if hit is not None:
            hit.focus(scroll_visible=False)  # the message searched for, not the input
        self._refresh_conversations()

    # -- branches ----------------------------------------------------------------------------------

    async def _show_conversation(
        self, conversation: Conversation, focus: int | None = None
    ) -> MessageView | None:
        """Show the conversation's branch; `focus`: that message gets the focus (and is scrolled
        to; it is returned), else the end is shown."""
        messages = self._messages()
        await messages.remove_children()
        views = [_message_view(message) for message in conversation.messages]
        await messages.mount_all(views)
        focused = next((v for v in views if v.message_id == focus), None)
        if focused is None:
            messages.scroll_end(animate=False)
            return None
        focused.focus(scroll_visible=False)
        self.call_after_refresh(messages.scroll_to_widget, focused, animate=False, top=True)
        return focused

    async def _reshow(self) -> None:
        """Show the branch as the store has it (after an answer written again was lost)."""
        if self.session.conversation is None:
            return
        try:
            await self._show_conversation(self.store.get(self.session.conversation.id))
        except StorageError as error:
            show_notice(self, error)

    def _show_alternatives(self, view: MessageView) -> None:
        if self.session.conversation is None or view.message_id is None:
            return
        try:
            view.set_alternatives(self.store.alternatives(self.session.conversation.id, view.message_id))
        except (StorageError, KeyError):
            pass  # waiting to be written: the label comes when the conversation is opened again

    def _target(self) -> MessageView | None:
        """The message the branch actions apply to: the focused one, else the last one."""
        if isinstance(self.focused, MessageView):
            return self.focused
        views = [v for v in self._views() if v.message_id is not None]
        return views[-1] if views else None

    def action_alternative(self, step: int) -> None:
        self._step_alternative(self._target(), step)

    @on(MessageView.AlternativeRequested)
    def _alternative_clicked(self, event: MessageView.AlternativeRequested) -> None:
        self._step_alternative(event.view, event.step)

    def _step_alternative(self, view: MessageView | None, step: int) -> None:
        if self.answering:
            self.notify("Stop the answer first (Esc)", severity="warning")
            return
        alternatives = view.alternatives if view is not None else None
        if alternatives is None or alternatives.count < 2:
            self.notify("This message has no alternatives", severity="warning")
            return
        other = alternatives.beside(step)
        if other is not None:
            self._show_branch(other)

    @work(thread=True, exclusive=True, group="store-branch", exit_on_error=False)
    def _show_branch(self, message_id: int) -> None:
        try:
            conversation = self.session.show_alternative(message_id)
        except StorageError as error:
            self.app.call_from_thread(show_notice, self, error)
            return
        self.post_message(self.BranchShown(conversation, message_id))

    @on(BranchShown)
    async def _branch_shown(self, event: BranchShown) -> None:
        if event.conversation.id != self.session.conversation_id:
            return  # another conversation was opened meanwhile
        await self._show_conversation(event.conversation, focus=event.focus)
        self._count_context()

    def action_fork(self) -> None:
        view = self._target()
        if view is None or self.session.conversation is None or self.answering:
            self.notify("Nothing to fork yet", severity="warning")
            return
        self._fork(view.message_id)

    @work(thread=True, group="store", exit_on_error=False)
    def _fork(self, message_id: int) -> None:
        try:
            self.post_message(self.Forked(self.session.fork(message_id)))
        except StorageError as error:
            self.app.call_from_thread(show_notice, self, error)

    @on(Forked)
    async def _forked(self, event: Forked) -> None:
        await self.open_conversation(event.conversation_id)
        self.notify("Forked: this is a new conversation")

    # -- search --------------------------------------------------------------------------------------

    def action_search(self) -> None:
        self.query_one("#conversation-search", Input).focus()

    @on(ConversationsPane.HitChosen)
    def _hit_chosen(self, event: ConversationsPane.HitChosen) -> None:
        self._open_hit(event.hit)

    @work(thread=True, exclusive=True, group="store-branch", exit_on_error=False)
    def _open_hit(self, hit: SearchHit) -> None:
        """Show the hit's branch (a write: here, off the UI thread), then open it there."""
        try:
            self.session.select(hit.conversation_id, hit.message_id)
        except KeyError:
            pass  # deleted meanwhile: opening it says so
        except StorageError as error:
            self.app.call_from_thread(show_notice, self, error)
            return
        self.post_message(self.HitSelected(hit))

    @on(HitSelected)
    async def _hit_selected(self, event: HitSelected) -> None:
        await self.open_conversation(event.hit.conversation_id, focus=event.hit.message_id)

    # -- helpers -----------------------------------------------------------------------------------

    def _messages(self) -> MessageList:
        return self.query_one("#messages", MessageList)

    def _views(self) -> list[MessageView]:
        return list(self._messages().query_children(MessageView))

    async def _remove_after(self, view: MessageView) -> None:
        views = self._views()
        await self._messages().remove_children(views[views.index(view) + 1 :])


def _message_view(message: StoredMessage) -> MessageView:
    """A stored message as the conversation shows it: its stats (answers), stopped, "2/3"."""
    stats = message.stats or {}  # an answer's: AnswerStats, and how long it reasoned
    notes = [stats_line(AnswerStats.from_dict(stats))] if stats else []
    if message.stopped:
        notes.append("stopped")
    return MessageView(message.role, message.content, message_id=message.id, note=" · ".join(notes),
                       alternatives=message.alternatives, reasoning=message.reasoning or "",
                       reasoning_seconds=stats.get("reasoning_seconds"))
