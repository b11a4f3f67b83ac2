"""Chat: past conversations | the conversation, streaming, with its input | settings (F2).

The model answers in a thread worker that reads the backend's stream (a local model runs in its own
process, see `tui.core.engine.local`). The worker only appends text to a buffer; a timer on the UI
drains it into the Markdown stream, so a model generating thousands of tokens a second costs the UI
the same as a slow one. The drain runs at most 25 times a second, and less often when rendering gets
costly (a long answer re-lays out more): the UI thread spends at most a set share of a core on the
answer, so it never takes the CPU the model needs. That share is small when the model's threads
take every core, since then each cycle the UI spends is one the model waits for (see
bench/README.md, "Chat"). The first token is
shown at once (a message wakes the drain), so the time to first token is the engine's. Every message
is written to the store when complete.
"""

from __future__ import annotations

import threading
import time
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

from tui.core.config.settings import ChatSettings
from tui.core.engine.base import (
    AnswerStats,
    Backend,
    EngineError,
    LoadOptions,
    ModelInfo,
    SamplingOptions,
    chat_options,
)
from tui.core.engine.base import Message as ChatMessage
from tui.core.storage import StorageError, write_atomic
from tui.core.text import one_line
from tui.ui import collector
from tui.ui.chat.widgets import (
    ChatInput,
    ConversationList,
    MessageList,
    MessageView,
    SettingsPanel,
    stats_line,
)
from tui.ui.commands import PaletteCommand
from tui.ui.keys import KeyFooter, leave_text_input
from tui.ui.model_select import ModelOffer, ModelSelect
from tui.ui.storage import ShowsStorageNotices, show_notice

RENDERS_PER_SECOND = 25
# While an answer streams, the UI thread may use this share of one core for it; renders slow down
# to stay within it. With a core to spare the model loses nothing to the UI; when its threads take
# every core, a render preempts one of them and the others wait for it at the next barrier.
UI_SHARE = 0.1
UI_SHARE_NO_SPARE_CORE = 0.02
SLOWEST_RENDER = 1.0  # seconds: whatever renders cost, the answer moves at least this often
RELOAD_KEYS = ("context_length", "gpu_layers")


def ui_share(info: ModelInfo) -> float:
    """The share of a core the UI may spend rendering this model's answers."""
    return UI_SHARE_NO_SPARE_CORE if info.takes_every_core else UI_SHARE


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


class ChatScreen(ShowsStorageNotices, Screen):
    CSS_PATH = "chat.tcss"
    AUTO_FOCUS = ""  # what has the focus on entering depends on what there is (_focus_on_entry)
    HELP_TITLE = "Chat"
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="chat.stop", tooltip="Stop the answer being written"),
        Binding(
            "ctrl+n", "new_chat", "New chat", id="chat.new", tooltip="Start a new conversation"
        ),
        Binding(
            "ctrl+r",
            "regenerate",
            "Regenerate",
            id="chat.regenerate",
            tooltip="Write the last answer again",
        ),
        Binding(
            "ctrl+up",
            "edit_last",
            "Edit",
            id="chat.edit",
            tooltip="Edit your last message and send it again",
        ),
        Binding(
            "f3",
            "copy_last",
            "Copy answer",
            id="chat.copy",
            tooltip="Copy the last answer to the clipboard (OSC 52)",
        ),
        Binding(
            "f4",
            "copy_code",
            "Copy code",
            show=False,
            id="chat.copy_code",
            tooltip="Copy the last code block of the last answer",
        ),
        Binding(
            "ctrl+o", "open_model", "Open model", id="chat.open", tooltip="Chat with another model"
        ),
        Binding(
            "f2",
            "toggle_settings",
            "Settings",
            id="chat.settings",
            tooltip="Show or hide the settings: sampling, context, GPU layers, prompt format",
        ),
        Binding(
            "ctrl+s",
            "export",
            "Export",
            show=False,
            id="chat.export",
            tooltip="Export this conversation as Markdown and JSON",
        ),
        Binding(
            "ctrl+l",
            "focus_conversations",
            "Conversations",
            show=False,
            id="chat.conversations",
            tooltip="Go to the list of past conversations",
        ),
    ]

    # -- messages from the workers -----------------------------------------------------------------

    @dataclass
    class ModelLoaded(Message):
        spec: str
        backend: Backend
        info: ModelInfo

    @dataclass
    class ModelFailed(Message):
        spec: str
        error: EngineError

    @dataclass
    class FirstToken(Message):
        pass

    @dataclass
    class AnswerDone(Message):
        stats: AnswerStats

    @dataclass
    class AnswerFailed(Message):
        error: EngineError

    @dataclass
    class ContextDropped(Message):
        dropped: int

    @dataclass
    class TokensCounted(Message):
        used: int

    @dataclass
    class TemplateChanged(Message):
        info: ModelInfo

    def __init__(self) -> None:
        super().__init__()
        from dataclasses import asdict

        from tui.core.chat.store import ConversationStore

        paths = self.app.context.paths  # a bad settings file: the app says so, defaults apply
        self.values: dict = {**asdict(self.app.context.settings.chat), "template": None}
        self.data_dir = paths.data_dir
        # A write the disk refuses waits in the store and is made later; the store says so.
        self.store = ConversationStore(paths.database, report=self.store_report)
        self.conversation = None
        self.spec: str | None = None
        self.backend: Backend | None = None
        self.info: ModelInfo | None = None
        self.answering = False
        self.last_stats: AnswerStats | None = None
        self.last_error: str | None = None
        self.context_used = 0
        self._pending: list[str] = []
        self._pending_lock = threading.Lock()
        self._cancel = threading.Event()
        self._answer_view: MessageView | None = None
        self._editing: MessageView | None = None
        self._drain_timer = None
        self._drain_cpu = 0.0  # the UI thread's CPU time when the last drain began
        self._ui_share = UI_SHARE

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="chat-body"):
            with Vertical(id="conversations-pane"):
                yield Label("Conversations", classes="pane-title")
                yield ConversationList(id="conversations")
            with Vertical(id="chat-main"):
                yield Static(id="model-bar")
                yield ModelOffer(getattr(self.app, "catalogue", None), id="offer")
                yield MessageList(id="messages")
                yield Static(id="meter")
                yield ChatInput(id="chat-input")
            yield SettingsPanel(self.values, id="settings")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#settings").display = False
        self._show_model_bar()
        self._show_meter()
        self._refresh_conversations()

    def on_screen_resume(self) -> None:
        if self.spec is None:  # no model yet: offer what is here now (and a download)
            self.query_one(ModelOffer).rescan()
        if self.focused is None:
            self._focus_on_entry()

    def _focus_on_entry(self) -> None:
        """The input when there is a model to talk to; without one, the past conversations (enter
        continues one, with its model), or with none yet the offer of models (enter opens the first
        one here, or gets one)."""
        if self.spec is not None:
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
            from tui.ui.download.screen import get_then_open

            get_then_open(self.app, event.download, "chat")

    def storage_changed(self) -> None:
        self._refresh_conversations()  # the list has more now

    def on_unmount(self) -> None:
        collector.release(self)
        self._cancel.set()
        if self.backend is not None:
            backend, self.backend = self.backend, None
            threading.Thread(target=backend.close, daemon=True).start()
        self.store.close()

    # -- the model ---------------------------------------------------------------------------------

    def open_model(
        self, spec: str, *, keep_conversation: bool = False, options: dict | None = None
    ) -> None:
        """Load `spec` (from the browse screen, the CLI or ctrl+o) and chat with it.

        `options`: settings to use from now on (`llmtui chat MODEL --temperature 0 ...`), by the
        names of the settings panel."""
        if not self.is_mounted:  # opened with the switch to this mode: load once composed
            self.call_later(
                self.open_model, spec, keep_conversation=keep_conversation, options=options
            )
            return
        if options:
            self.values.update(options)
            self.query_one(SettingsPanel).show_values(self.values)
        if (
            not keep_conversation
            and self.conversation is not None
            and self.conversation.model != spec
        ):
            self.call_later(self.action_new_chat)
        self.spec = spec
        self.info = None
        self.last_error = None
        self.query_one(ModelOffer).display = False
        self._show_model_bar(loading=True)
        self.query_one(ChatInput).focus()  # a model chosen: what comes next is the question
        self._load(spec, self._load_options(), self.values.get("template"))

    def _load_options(self) -> LoadOptions:
        return chat_options(ChatSettings(), **self.values)[0]

    @work(thread=True, exclusive=True, group="model", exit_on_error=False)
    def _load(self, spec: str, load: LoadOptions, template: str | None) -> None:
        from tui.core.engine.local import LocalBackend
        from tui.core.engine.resolve import open_backend
        from tui.core.models import library

        old, self.backend = self.backend, None
        if old is not None:
            old.close()
        try:
            backend = open_backend(spec, self.app.context.settings, load=load, template=template,
                                   catalogue=self.app.catalogue)  # fmt: skip
            info = backend.load()
        except EngineError as error:
            self.post_message(self.ModelFailed(spec, error))
            return
        if isinstance(backend, LocalBackend):
            library.mark_used(backend.path)  # the library lists models most recently used first
        self.post_message(self.ModelLoaded(spec, backend, info))

    @on(ModelLoaded)
    def _model_loaded(self, event: ModelLoaded) -> None:
        if event.spec != self.spec:  # another model was asked for meanwhile
            threading.Thread(target=event.backend.close, daemon=True).start()
            return
        self.backend, self.info = event.backend, event.info
        self._ui_share = ui_share(event.info)
        self._show_model_bar()
        if self.conversation is not None:
            self.store.update(self.conversation.id, model=self.spec, model_name=event.info.name)
        self._count_context()

    @on(ModelFailed)
    def _model_failed(self, event: ModelFailed) -> None:
        from tui.core.engine.resolve import NotDownloaded

        if event.spec != self.spec:
            return
        self.last_error = event.error.message
        self._show_model_bar()
        if isinstance(event.error, NotDownloaded):  # offer the download instead of an error
            from tui.ui.download.screen import get_then_open

            get_then_open(self.app, event.error.name, "chat")
            return
        self.notify(
            event.error.message, title="Cannot open the model", severity="error", markup=False
        )

    def _show_model_bar(self, loading: bool = False) -> None:
        bar = self.query_one("#model-bar", Static)
        bar.remove_class("-error", "-guess")
        if self.spec is None:
            bar.update(
                Content("No model yet: pick one below, press ctrl+o to open another, or choose one "
                        "under Models (1).")
            )
            return
        name = one_line(self.info.name if self.info else self.spec, 80)
        if loading:
            bar.update(Content.assemble((name, "bold"), "  loading…"))
            return
        if self.info is None:
            bar.add_class("-error")
            bar.update(
                Content.assemble(
                    (name, "bold"), "  ", one_line(self.last_error or "not loaded", 300)
                )
            )
            return
        info = self.info
        label = info.template_label or info.template_name or "server"
        source = {
            "gguf": "from the GGUF",
            "family": "guessed",
            "user": "your choice",
            "server": "the server's",
        }.get(info.template_source, info.template_source)
        parts = [(name, "bold"), f"  ctx {info.context_size:,}", f"  ·  format: {label} ({source})"]
        if info.template_is_guess:
            bar.add_class("-guess")
            reason = one_line(info.template_reason, 200)
            parts.append(f"  ⚠ {reason}: check it under Settings (F2)")
        bar.update(Content.assemble(*parts))

    # -- sending and answering
    # -----------------------------------------------------------------------

    @on(ChatInput.Submitted)
    async def _submitted(self, event: ChatInput.Submitted) -> None:
        if self.answering:
            self.notify("An answer is being written: Esc stops it", severity="warning")
            return
        if self.backend is None:
            what = (
                "the model is still loading"
                if self.spec and self.info is None and not self.last_error
                else "open a model first (ctrl+o)"
            )
            self.notify(f"Cannot send: {what}", severity="warning")
            return
        text = event.text
        if self._editing is not None:
            view, self._editing = self._editing, None
            self._set_input_title("")
            await self._remove_after(view)
            await view.set_text(text)
            if view.message_id is not None:
                self.store.edit_message(view.message_id, text)
            await self._start_answer()
        else:
            question = MessageView("user", text)
            await self._start_answer(question)
            if self.conversation is None:
                self.conversation = self.store.create(
                    self.spec,
                    self.info.name,
                    self._conversation_settings(),
                    self.values.get("template"),
                )
            question.message_id = self.store.add_message(self.conversation.id, "user", text).id
        self._refresh_conversations()

    def _history(self) -> list[ChatMessage]:
        system = self.values.get("system_prompt") or ""
        messages = [ChatMessage("system", system)] if system else []
        messages += [
            ChatMessage(v.role, v.text) for v in self._views() if v is not self._answer_view
        ]
        return messages

    async def _start_answer(self, question: MessageView | None = None) -> None:
        """Ask for the answer (to `question`, a new message, if given), then show it coming. The
        request goes first: the views are mounted and the question stored while the model reads
        the prompt. The answer's first text is handled only after the caller returns."""
        history = self._history()
        if question is not None:
            history.append(ChatMessage("user", question.text))
        view = MessageView("assistant", note="writing…")
        self._answer_view = view
        self._pending.clear()
        self._cancel = threading.Event()
        self.answering = True
        collector.hold(self)
        self._generate(
            self.backend, history, self._sampling(), self.values["context_policy"], self._cancel
        )
        messages = self._messages()
        await messages.mount_all([question, view] if question is not None else [view])
        messages.anchor()
        # A blinking cursor repaints twice a second: CPU the model can use while it answers.
        self.query_one(ChatInput).cursor_blink = False
        self._drain_cpu = time.thread_time()
        self._drain_timer = self.set_timer(1 / RENDERS_PER_SECOND, self._drain_tick)

    def _sampling(self) -> SamplingOptions:
        return chat_options(ChatSettings(), **self.values)[1]

    @work(thread=True, group="answer", exit_on_error=False)
    def _generate(
        self,
        backend: Backend,
        history,
        sampling: SamplingOptions,
        policy: str,
        cancel: threading.Event,
    ) -> None:
        from tui.core.engine.base import DoneEvent
        from tui.core.engine.context import answer_reserve, fit_messages

        n_ctx = self.info.context_size if self.info else 4096
        try:
            fitted = fit_messages(
                backend, history, n_ctx, answer_reserve(sampling.max_tokens, n_ctx), policy
            )
            if fitted.dropped:
                self.post_message(self.ContextDropped(fitted.dropped))
            first = True
            for event in backend.stream(fitted.messages, sampling, cancel):
                if isinstance(event, DoneEvent):
                    self.post_message(self.AnswerDone(event.stats))
                    return
                with self._pending_lock:
                    self._pending.append(event.text)
                if first:
                    first = False
                    self.post_message(self.FirstToken())
        except EngineError as error:
            self.post_message(self.AnswerFailed(error))
        except Exception as error:  # noqa: BLE001 - a bug ends the answer instead of hanging it
            self.post_message(self.AnswerFailed(EngineError(f"unexpected error: {error}")))

    @on(FirstToken)
    async def _first_token(self) -> None:
        await self._drain()

    async def _drain_tick(self) -> None:
        """Drain, then come back after the time the UI thread's work since the last drain earns."""
        now = time.thread_time()
        spent, self._drain_cpu = now - self._drain_cpu, now
        await self._drain()
        if self.answering:
            delay = min(SLOWEST_RENDER, max(1 / RENDERS_PER_SECOND, spent / self._ui_share))
            self._drain_timer = self.set_timer(delay, self._drain_tick)

    async def _drain(self) -> None:
        """Move streamed text into the answer's Markdown."""
        with self._pending_lock:
            fragment = "".join(self._pending)
            self._pending.clear()
        if fragment and self._answer_view is not None:
            await self._answer_view.stream_append(fragment)

    @on(AnswerDone)
    async def _answer_done(self, event: AnswerDone) -> None:
        await self._end_answer(event.stats, None)

    @on(AnswerFailed)
    async def _answer_failed(self, event: AnswerFailed) -> None:
        await self._end_answer(None, event.error)

    async def _end_answer(self, stats: AnswerStats | None, error: EngineError | None) -> None:
        collector.release(self)
        if self._drain_timer is not None:
            self._drain_timer.stop()
            self._drain_timer = None
        await self._drain()
        self.query_one(ChatInput).cursor_blink = True
        view, self._answer_view = self._answer_view, None
        if view is None:
            self.answering = False
            return
        await view.finish()
        if error is not None:
            self.notify(error.message, title="The answer failed", severity="error", markup=False)
            if not view.text:
                await view.remove()
                self.answering = False
                return
            view.set_note(f"failed: {one_line(error.message, 120)}")
        else:
            self.last_stats = stats
            view.set_note(stats_line(stats))
            if stats.context_used:
                self.context_used = stats.context_used
        stopped = error is not None or stats.finish_reason in ("cancelled", "error")
        if self.conversation is not None:
            stored = self.store.add_message(
                self.conversation.id,
                "assistant",
                view.text,
                stopped=stopped,
                stats=stats.to_dict() if stats else None,
            )
            view.message_id = stored.id
        self._show_meter()
        self._refresh_conversations()
        self.answering = False  # last: whoever waits on it finds the answer stored and shown

    @on(ContextDropped)
    def _context_dropped(self, event: ContextDropped) -> None:
        self.notify(
            f"The conversation is longer than the context: the oldest {event.dropped} messages were "
            "left out of this prompt (they stay here)",
            severity="warning",
        )

    # -- the context meter -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="count", exit_on_error=False)
    def _count_context(self) -> None:
        backend, history = self.backend, self._history()
        if backend is None or not history:
            self.post_message(self.TokensCounted(0))
            return
        try:
            self.post_message(self.TokensCounted(backend.count_tokens(history)))
        except EngineError:
            pass

    @on(TokensCounted)
    def _tokens_counted(self, event: TokensCounted) -> None:
        self.context_used = event.used
        self._show_meter()

    def _show_meter(self) -> None:
        meter = self.query_one("#meter", Static)
        if self.info is None:
            meter.update("")
            return
        size = self.info.context_size
        used = self.context_used
        share = used / size if size else 0
        cells = 20
        filled = min(cells, round(share * cells))
        bar = "█" * filled + "░" * (cells - filled)
        policy = (
            "drops oldest turns"
            if self.values["context_policy"] == "drop_oldest"
            else "stops when full"
        )
        parts = [f"context {bar} {used:,} / {size:,} tokens ({share:.0%}), {policy}"]
        if self.last_stats is not None:
            parts.append(stats_line(self.last_stats))
        meter.set_class(share >= 0.9, "-full")
        meter.update(Content("  ·  ".join(parts)))

    # -- actions -----------------------------------------------------------------------------------

    def action_stop(self) -> None:
        if self._editing is not None:
            self._editing = None
            self.query_one(ChatInput).clear()
            self._set_input_title("")
            return
        if not self.answering:
            leave_text_input(self)  # nothing to stop: esc leaves the input (for the view keys)
            return
        self._cancel.set()
        if self.backend is not None:
            self.backend.stop()

    async def action_regenerate(self) -> None:
        if self.answering or self.backend is None:
            return
        views = self._views()
        if not views or views[-1].role != "assistant":
            self.notify("There is no answer to write again", severity="warning")
            return
        last = views[-1]
        if last.message_id is not None:
            self.store.delete_from(last.message_id)
        await last.remove()
        await self._start_answer()

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
        self._set_input_title(
            "editing: Enter sends it again (what followed is replaced), Esc cancels"
        )

    def _set_input_title(self, title: str) -> None:
        self.query_one(ChatInput).border_title = title or None

    def action_copy_last(self) -> None:
        answers = [v for v in self._views() if v.role == "assistant" and v.text]
        if not answers:
            self.notify("No answer to copy yet", severity="warning")
            return
        answers[-1].action_copy()

    def action_copy_code(self) -> None:
        answers = [v for v in self._views() if v.role == "assistant" and v.text]
        if answers:
            answers[-1].action_copy_code()

    async def action_new_chat(self) -> None:
        self.action_stop()
        self.conversation = None
        self._editing = None
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
        options = self.query_one("#conversations", OptionList)
        options.focus()
        if options.highlighted is None and options.option_count:
            options.highlighted = 0

    def action_export(self) -> None:
        if self.conversation is None:
            self.notify("Nothing to export yet", severity="warning")
            return
        try:
            conversation = self.store.get(self.conversation.id)
            stem = self.data_dir / "exports" / f"conversation-{conversation.id}"
            write_atomic(Path(f"{stem}.md"), conversation.to_markdown())
            write_atomic(Path(f"{stem}.json"), conversation.to_json())
        except StorageError as error:
            show_notice(self, error)
            return
        self.notify(f"Exported to {stem}.md and .json", markup=False)

    def palette_commands(self) -> list[PaletteCommand]:
        from tui.core.engine.templates import template_choices

        return [
            PaletteCommand(
                f"Use the prompt format {label}",
                "chat prompt format",
                lambda name=name: self._set_template(name),
            )
            for label, name in template_choices()
        ]

    # -- settings ----------------------------------------------------------------------------------

    @on(SettingsPanel.Changed)
    def _setting_changed(self, event: SettingsPanel.Changed) -> None:
        self.values[event.name] = event.value
        if self.conversation is not None:
            self.store.update(
                self.conversation.id,
                settings=self._conversation_settings(),
                template=self.values.get("template"),
            )
        if event.name in RELOAD_KEYS and self.spec is not None:
            self.open_model(self.spec, keep_conversation=True)
        elif event.name == "template":
            self._set_template(event.value)
        elif event.name in ("system_prompt", "context_policy"):
            self._show_meter()
            self._count_context()

    def _set_template(self, name: str | None) -> None:
        self.values["template"] = name
        set_template = getattr(self.backend, "set_template", None)
        if set_template is None:
            if self.spec is not None and self.backend is None:
                self.open_model(self.spec, keep_conversation=True)
            return
        self._switch_template(set_template, name)

    @work(thread=True, exclusive=True, group="template", exit_on_error=False)
    def _switch_template(self, set_template, name: str | None) -> None:
        try:
            self.post_message(self.TemplateChanged(set_template(name)))
        except EngineError as error:
            self.post_message(self.ModelFailed(self.spec, error))

    @on(TemplateChanged)
    def _template_changed(self, event: TemplateChanged) -> None:
        self.info = event.info
        self._show_model_bar()
        self._count_context()

    def _conversation_settings(self) -> dict:
        return {k: v for k, v in self.values.items() if k != "template"}

    # -- past conversations
    # --------------------------------------------------------------------------

    def _refresh_conversations(self) -> None:
        current = self.conversation.id if self.conversation else None
        try:
            conversations = self.store.list()
        except StorageError as error:
            show_notice(self, error)  # the list stays as it was
            return
        self.query_one(ConversationList).show(conversations, current)

    @on(ConversationList.DeleteRequested)
    async def _delete_conversation(self, event: ConversationList.DeleteRequested) -> None:
        if self.conversation is not None and self.conversation.id == event.conversation_id:
            await self.action_new_chat()
        self.store.delete(event.conversation_id)
        options = self.query_one("#conversations", OptionList)
        highlighted = options.highlighted
        self._refresh_conversations()
        if options.option_count:
            options.highlighted = min(highlighted or 0, options.option_count - 1)
        options.focus()  # new chat moved it to the input: deleting several goes on here
        self.notify("Conversation deleted")

    @on(OptionList.OptionSelected, "#conversations")
    async def _conversation_selected(self, event: OptionList.OptionSelected) -> None:
        await self.open_conversation(int(event.option.id))

    async def open_conversation(self, conversation_id: int) -> None:
        """Show a past conversation and continue it with its model and settings."""
        if self.answering:
            self.action_stop()
        try:
            conversation = self.store.get(conversation_id)
        except StorageError as error:
            show_notice(self, error)
            return
        await self.action_new_chat()
        self.conversation = conversation
        self.values.update({k: v for k, v in conversation.settings.items() if k in self.values})
        self.values["template"] = conversation.template
        self.query_one(SettingsPanel).show_values(self.values)
        views = []
        for message in conversation.messages:
            note = ""
            if message.role == "assistant" and message.stats:
                note = stats_line(
                    AnswerStats(
                        **{
                            k: v
                            for k, v in message.stats.items()
                            if k in AnswerStats.__dataclass_fields__
                        }
                    )
                )
            if message.stopped:
                note = f"{note} · stopped" if note else "stopped"
            views.append(
                MessageView(message.role, message.content, message_id=message.id, note=note)
            )
        await self._messages().mount_all(views)
        self._messages().scroll_end(animate=False)
        if conversation.model != self.spec or self.backend is None:
            self.open_model(conversation.model, keep_conversation=True)
        else:
            self._count_context()
        self._refresh_conversations()

    # -- helpers -----------------------------------------------------------------------------------

    def _messages(self) -> MessageList:
        return self.query_one("#messages", MessageList)

    def _views(self) -> list[MessageView]:
        return list(self._messages().query_children(MessageView))

    async def _remove_after(self, view: MessageView) -> None:
        views = self._views()
        later = views[views.index(view) + 1 :]
        if later:
            await self._messages().remove_children(later)
