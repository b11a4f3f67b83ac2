"""A conversation with one model, headless: load, fit the context, stream, persist, switch template.

The chat screen, `llmtui chat --prompt` and scripts drive the same `ChatSession`, as compare's screen
and CLI drive `Comparison`. Its methods block: the screen calls them from its worker threads, so
loading, generation and every write to the store happen off the UI thread. One answer at a time.

An answer is asked for with the turns the caller shows (`answer(turns, question=...)`); the session
adds the system prompt, fits the turns to the context, streams the text and ends with one `Answered`.
The store is written only by the methods under "the store" below. An answer written again and a
question edited are kept beside the old ones (the store's alternatives): `show_alternative` shows
another, `fork` copies a branch.

Settings come in layers (`ChatSettings.layered`): the chat settings, the preset chosen (or the model's
default preset), then the settings chosen over it (`overrides`: flags, the settings panel's `choose`).

A reasoning block before the answer (tui.core.chat.reasoning) is split off as the text streams: its
TokenEvents say `reasoning=True`, `Answered` and the store keep it apart from the answer. A response
format (a JSON schema or a GBNF grammar, `set_response_format`) constrains every answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from tui.core.chat.reasoning import ReasoningSplitter, without_reasoning
from tui.core.engine.base import (
    AnswerStats,
    Backend,
    DoneEvent,
    EngineError,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingOptions,
    TokenEvent,
    chat_options,
)
from tui.core.engine.structured import ResponseFormat, load_response_format
from tui.core.storage import write_atomic

if TYPE_CHECKING:
    from tui.core.catalogue import Catalogue
    from tui.core.chat.presets import Preset
    from tui.core.chat.store import Conversation, ConversationStore
    from tui.core.config.context import AppContext

# The settings (by the settings panel's names) that only a reload applies.
RELOAD_KEYS = ("context_length", "gpu_layers", "prompt_lookup")
# What a change of settings takes to apply (`choose`, `use_preset`): a reload of the model, a switch
# of its prompt format, a new count of the context (the system prompt or the policy), or nothing.
Applying = Literal["reload", "template", "recount"] | None


@dataclass(frozen=True)
class Answered:
    """How an answer ended: `stats` when the model finished (or was stopped), `error` when it
    failed; `text` is the answer that arrived either way, `reasoning` the reasoning before it ("":
    none), `reasoning_seconds` how long the model reasoned. The ids are the store's (None: not
    stored)."""

    text: str
    stats: AnswerStats | None = None
    error: EngineError | None = None
    question_id: int | None = None
    answer_id: int | None = None
    reasoning: str = ""
    reasoning_seconds: float | None = None

    @property
    def stopped(self) -> bool:
        """Ended before the model's own end (stopped, failed)."""
        return self.stats is None or self.stats.finish_reason in ("cancelled", "error")


class ChatSession:
    """One conversation with one model.

    `preset`: a preset's name (PresetError when the book has none of that name); without one, the
    default preset of each model loaded applies. `overrides`: settings over the preset's, by the
    settings panel's names (None: not given). `store`: where the conversation is kept (None:
    nothing is kept, `llmtui chat --no-save`)."""

    def __init__(
        self,
        context: AppContext,
        store: ConversationStore | None = None,
        *,
        catalogue: Catalogue | None = None,
        preset: str | None = None,
        overrides: dict | None = None,
    ) -> None:
        self.context = context
        self.store = store
        self.catalogue = catalogue
        self.spec: str | None = None
        self.backend: Backend | None = None
        self.info: ModelInfo | None = None
        self.preset: Preset | None = None
        self.preset_chosen = False  # False: each model loaded brings its default preset
        self.overrides: dict = {}
        if preset is not None:
            self.use_preset(preset)
        self.overrides.update((k, v) for k, v in (overrides or {}).items() if v is not None)
        self.conversation: Conversation | None = None
        self.response_format: ResponseFormat | None = None  # None: free text
        self._lock = threading.Lock()  # the backend and info, swapped by loads from any thread

    # -- options -----------------------------------------------------------------------------------

    @property
    def values(self) -> Mapping[str, Any]:
        """The settings in use, by the settings panel's names, plus `template` (None: automatic);
        read-only (a setting is chosen with `choose`, into `overrides`, where a template of None is
        a choice too)."""
        return MappingProxyType({**self._under_overrides(), **self.overrides})

    def _under_overrides(self) -> dict:
        """The chat settings with the preset's over them."""
        return self.context.settings.chat.layered(self.preset.values() if self.preset else None)

    def options(self) -> tuple[LoadOptions, SamplingOptions]:
        load, sampling = chat_options(self.context.settings.chat, self.values)
        return load, replace(sampling, response_format=self.response_format)

    def use_preset(self, name: str | None) -> Applying:
        """Answer with the preset `name` from now on (None: none, the chat settings alone); its
        settings replace those chosen before. What that takes to apply; PresetError for a name the
        book does not know."""
        before = dict(self.values)
        self.preset = None if name is None else self.context.presets().get(name)
        self.preset_chosen = True
        if self.preset is not None:  # a format it leaves automatic keeps the one chosen
            named = {k for k, v in self.preset.values().items() if v is not None}
            self.overrides = {k: v for k, v in self.overrides.items() if k not in named}
        return self._applying(before)

    def choose(self, name: str, value: object) -> Applying:
        """Use `value` for the setting `name` (a settings panel's name, or `template`) from now on;
        what that takes to apply."""
        before = dict(self.values)
        self.overrides[name] = value
        return self._applying(before)

    def _applying(self, before: Mapping[str, Any]) -> Applying:
        """What the settings changed since `before` take: a load setting, or a prompt format while
        the model asked for is not open (loading, or failed), a reload; a format, a switch."""
        changed = {k for k, v in self.values.items() if before.get(k) != v}
        template, unloaded = "template" in changed, self.backend is None
        if self.spec is not None and (changed.intersection(RELOAD_KEYS) or (template and unloaded)):
            return "reload"
        if template and not unloaded:
            return "template"
        return "recount" if changed & {"system_prompt", "context_policy"} else None

    def presets_changed(self) -> None:
        """The presets were changed (the preset manager): the one in use is read again, with its
        new settings (renamed or deleted: none)."""
        if self.preset is not None:
            self.preset = self.context.presets().find(self.preset.name)

    def set_response_format(self, path: Path | str | None) -> ResponseFormat | None:
        """Constrain answers from now on to the JSON schema (.json) or GBNF grammar (.gbnf) in
        `path` (None or "": free text). A broken file raises ResponseFormatError (one line) and
        leaves the format in use as it was."""
        self.response_format = load_response_format(path) if path else None
        return self.response_format

    def settings(self) -> dict:
        """The settings a conversation keeps (its template is kept apart), with its preset."""
        values = {k: v for k, v in self.values.items() if k != "template"}
        return values if self.preset is None else {**values, "preset": self.preset.name}

    def messages(self, turns: Sequence[Message]) -> list[Message]:
        """What the model is asked: the system prompt, then the turns, each answer without its
        reasoning (the model families that reason expect it dropped)."""
        system = self.values.get("system_prompt") or ""
        return ([Message("system", system)] if system else []) + without_reasoning(turns)

    # -- the model ---------------------------------------------------------------------------------

    def load(self, spec: str) -> ModelInfo:
        """Load `spec` (closing the model before it) with the current settings; EngineError."""
        from tui.core.engine.resolve import open_backend

        self.spec = spec
        self.close()
        if not self.preset_chosen:
            self.preset = self.context.presets().default_for(spec)
        backend = open_backend(spec, self.context, load=self.options()[0],
                               template=self.values["template"], catalogue=self.catalogue)  # fmt: skip
        info = backend.load()
        if self.spec != spec:  # another model was asked for meanwhile
            backend.close()
            raise EngineError(f"{spec}: another model was opened meanwhile", "other")
        with self._lock:
            self.backend, self.info = backend, info
        if backend.path is not None:
            from tui.core.models import library

            library.mark_used(self.context.paths, backend.path)  # My models lists the last used first
        if self.conversation is not None:
            self._save_model()
        return info

    def set_template(self, name: str | None) -> ModelInfo:
        """Answer in another prompt format from now on (None: automatic), without reloading.
        EngineError without a model, or where it answers in a format of its own (a server)."""
        if self.backend is None:
            raise EngineError("no model is open", "other")
        self.info = self.backend.set_template(name)
        self.overrides["template"] = name
        self.settings_changed()
        return self.info

    def count_tokens(self, turns: Sequence[Message]) -> int:
        """Tokens the prompt for these turns takes now (0 without a model or turns)."""
        backend, messages = self.backend, self.messages(turns)
        if backend is None or not messages:
            return 0
        return backend.count_tokens(messages)

    def stop(self) -> None:
        if self.backend is not None:
            self.backend.stop()

    def close(self) -> None:
        """Unload the model (another may be loaded after); the store stays its owner's."""
        with self._lock:
            backend, self.backend, self.info = self.backend, None, None
        if backend is not None:
            backend.close()

    # -- answering ---------------------------------------------------------------------------------

    def answer(
        self,
        turns: Sequence[Message],
        *,
        question: str | None = None,
        cancel: threading.Event | None = None,
        edit: tuple[int, str] | None = None,
        redo: int | None = None,
        on_dropped: Callable[[int], None] | None = None,
    ) -> Iterator[TokenEvent | Answered]:
        """Stream the answer to `turns` (+ `question`, a new message): TokenEvents, then one
        `Answered`. `edit` (message id, new text): that question, changed, is kept beside it (its
        id is `Answered.question_id`); `redo` (message id): the answer is kept beside that one.
        `on_dropped(n)`: the oldest n messages were left out of the prompt to fit the context."""
        from tui.core.engine.context import answer_reserve, fit_messages

        backend, info = self.backend, self.info
        if backend is None or info is None:
            raise EngineError("no model is open", "other")
        _, sampling = self.options()
        turns = list(turns) + ([Message("user", question)] if question is not None else [])
        question_id = self._save_question(question, edit)
        splitter = ReasoningSplitter(info.reasoning_opened)
        stats = error = None
        try:
            n_ctx = info.context_size
            fitted = fit_messages(backend, self.messages(turns), n_ctx,
                                  answer_reserve(sampling.max_tokens, n_ctx),
                                  self.values["context_policy"])  # fmt: skip
            if fitted.dropped and on_dropped is not None:
                on_dropped(fitted.dropped)
            for event in backend.stream(fitted.messages, sampling, cancel):
                if isinstance(event, DoneEvent):
                    stats = event.stats
                    break
                yield from splitter.feed(event.text, event.reasoning)
        except EngineError as failure:
            error = failure
        yield from splitter.finish()
        ended = Answered(splitter.answer, stats, error, question_id,
                         reasoning=splitter.reasoning, reasoning_seconds=splitter.reasoning_seconds)
        if splitter.answer or splitter.reasoning or error is None:
            # a failure before any text leaves nothing to keep
            ended = replace(ended, answer_id=self._save_answer(ended, redo))
        yield ended

    # -- the store: every write is made here -------------------------------------------------------

    @property
    def conversation_id(self) -> int | None:
        """The conversation's id in the store (None: none yet)."""
        return self.conversation.id if self.conversation is not None else None

    def open_conversation(self, conversation_id: int) -> Conversation:
        """Continue a stored conversation on the branch shown: its preset, settings and template
        apply from now on (its model is the caller's to load). StorageError, KeyError."""
        conversation = self.store.get(conversation_id)
        self.conversation = conversation
        kept = conversation.settings
        # A preset deleted since is gone: its settings stay, as the conversation's own.
        self.preset = self.context.presets().find(kept.get("preset") or "")
        self.preset_chosen = True
        under = self._under_overrides()
        kept = {**kept, "template": conversation.template}
        self.overrides = {k: v for k, v in kept.items() if k in under and v != under[k]}
        return conversation

    def show_alternative(self, message_id: int) -> Conversation:
        """Show the branch through `message_id` (an alternative of a message shown): the
        conversation as it is shown now. StorageError, KeyError."""
        self.store.select(self.conversation.id, message_id)
        self.conversation = self.store.get(self.conversation.id)
        return self.conversation

    def select(self, conversation_id: int, message_id: int) -> None:
        """Show the branch of a conversation through `message_id` (a search hit, on any branch)
        when it is opened next. KeyError."""
        self.store.select(conversation_id, message_id)

    def fork(self, message_id: int) -> int:
        """A new conversation holding the branch shown up to `message_id`; its id (open it with
        `open_conversation`). StorageError, KeyError."""
        return self.store.fork(self.conversation.id, message_id)

    def export(self) -> Path:
        """Write the conversation, the branch shown as the store has it, as Markdown and JSON to the
        exports folder: their path without its suffix. StorageError."""
        conversation = self.store.get(self.conversation.id)
        stem = self.context.paths.data_dir / "exports" / f"conversation-{conversation.id}"
        write_atomic(stem.with_suffix(".md"), conversation.to_markdown())
        write_atomic(stem.with_suffix(".json"), conversation.to_json())
        return stem

    def new_conversation(self) -> None:
        self.conversation = None

    def delete_conversation(self, conversation_id: int) -> None:
        if self.conversation_id == conversation_id:
            self.conversation = None
        self.store.delete(conversation_id)

    def settings_changed(self) -> None:
        """`values` changed: the conversation keeps them."""
        if self.conversation is not None:
            self.store.update(self.conversation.id, settings=self.settings(),
                              template=self.values["template"])

    def _save_question(self, question: str | None, edit) -> int | None:
        if self.store is None:
            return None
        if edit is not None:
            return self.store.add_alternative(self.conversation.id, *edit).id
        if question is None:
            return None
        if self.conversation is None:
            self.conversation = self.store.create(
                self.spec, self.info.name, self.settings(), self.values["template"]
            )
        return self.store.add_message(self.conversation.id, "user", question).id

    def _save_answer(self, ended: Answered, redo: int | None) -> int | None:
        if self.store is None or self.conversation is None:
            return None
        stats = ended.stats.to_dict() if ended.stats else None
        if stats is not None and ended.reasoning_seconds is not None:
            stats["reasoning_seconds"] = ended.reasoning_seconds
        kept = {"stopped": ended.stopped, "stats": stats, "reasoning": ended.reasoning or None}
        if redo is not None:
            stored = self.store.add_alternative(self.conversation.id, redo, ended.text, **kept)
        else:
            stored = self.store.add_message(self.conversation.id, "assistant", ended.text, **kept)
        return stored.id

    def _save_model(self) -> None:
        self.store.update(self.conversation.id, model=self.spec, model_name=self.info.name)

