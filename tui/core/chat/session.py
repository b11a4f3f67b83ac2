"""A conversation with one model, headless: load, fit the context, stream, persist, switch template.

The chat screen, `llmtui chat --prompt` and scripts drive the same `ChatSession`, as compare's screen
and CLI drive `Comparison`. Its methods block: the screen calls them from its worker threads, so
loading, generation and every write to the store happen off the UI thread. One answer at a time.

An answer is asked for with the turns the caller shows (`answer(turns, question=...)`); the session
adds the system prompt, fits the turns to the context, streams the text and ends with one `Answered`
(its stats, or the error that ended it, and the ids the question and answer were stored with). The
store is written in one place (`_save_*`), so a store that keeps alternatives can be put behind it.

A reasoning block before the answer (`<think>…</think>`, a server's `reasoning_content`) is split off
as the text streams: its TokenEvents say `reasoning=True`, `Answered` keeps it apart from the answer,
the store keeps it in its own field, and the context sent back on the next turn leaves it out. A
response format (a JSON schema or a GBNF grammar, `set_response_format`) constrains every answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tui.core.chat.reasoning import Part, ReasoningSplitter, without_reasoning
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

if TYPE_CHECKING:
    from tui.core.catalogue import Catalogue
    from tui.core.chat.store import Conversation, ConversationStore
    from tui.core.config.context import AppContext

# The settings (by the settings panel's names) that only a reload applies.
RELOAD_KEYS = ("context_length", "gpu_layers", "prompt_lookup")


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

    `values`: the chat settings by the settings panel's names (the context's chat settings, with
    `overrides` on top) plus `template` (None: automatic). `store`: where the conversation is
    kept (None: nothing is kept, `llmtui chat --no-save`)."""

    def __init__(
        self,
        context: AppContext,
        store: ConversationStore | None = None,
        *,
        catalogue: Catalogue | None = None,
        overrides: dict | None = None,
    ) -> None:
        self.context = context
        self.store = store
        self.catalogue = catalogue
        self.values: dict = {**asdict(context.settings.chat), "template": None}
        self.values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        self.spec: str | None = None
        self.backend: Backend | None = None
        self.info: ModelInfo | None = None
        self.conversation: Conversation | None = None
        self.response_format: ResponseFormat | None = None  # None: free text
        self.response_format_path: Path | None = None  # the file it was loaded from
        self._lock = threading.Lock()  # the backend and info, swapped by loads from any thread

    # -- options -----------------------------------------------------------------------------------

    def options(self) -> tuple[LoadOptions, SamplingOptions]:
        load, sampling = chat_options(self.context.settings.chat, **self.values)
        return load, replace(sampling, response_format=self.response_format)

    def set_response_format(self, path: Path | str | None) -> ResponseFormat | None:
        """Constrain answers from now on to the JSON schema (.json) or GBNF grammar (.gbnf) in
        `path` (None or "": free text). A broken file raises ResponseFormatError (one line) and
        leaves the format in use as it was."""
        response_format = load_response_format(path) if path else None
        self.response_format = response_format
        self.response_format_path = Path(path).expanduser() if path else None
        return response_format

    def settings(self) -> dict:
        """The settings a conversation keeps (its template is kept apart)."""
        return {k: v for k, v in self.values.items() if k != "template"}

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
        self.close_model()
        backend = open_backend(spec, self.context.settings, load=self.options()[0],
                               template=self.values["template"], catalogue=self.catalogue)  # fmt: skip
        info = backend.load()
        if self.spec != spec:  # another model was asked for meanwhile
            backend.close()
            raise EngineError(f"{spec}: another model was opened meanwhile", "other")
        with self._lock:
            self.backend, self.info = backend, info
        if backend.path is not None:
            from tui.core.models import library

            library.mark_used(backend.path)  # My models lists models most recently used first
        if self.conversation is not None:
            self._save_model()
        return info

    def set_template(self, name: str | None) -> ModelInfo:
        """Answer in another prompt format from now on (None: automatic), without reloading.
        EngineError without a model, or where it answers in a format of its own (a server)."""
        if self.backend is None:
            raise EngineError("no model is open", "other")
        self.info = self.backend.set_template(name)
        self.values["template"] = name
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

    def close_model(self) -> None:
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
        `Answered`. `edit` (message id, new text): that message was changed and what followed it
        goes; `redo` (message id): that answer and what followed it go (written again).
        `on_dropped(n)`: the oldest n messages were left out of the prompt to fit the context."""
        from tui.core.engine.context import answer_reserve, fit_messages

        backend, info = self.backend, self.info
        if backend is None or info is None:
            raise EngineError("no model is open", "other")
        _, sampling = self.options()
        turns = list(turns) + ([Message("user", question)] if question is not None else [])
        question_id = self._save_changes(question, edit, redo)
        splitter = ReasoningSplitter(info.reasoning_opened)
        clock = _ReasoningClock()
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
                yield from clock.events(splitter.feed(event.text, event.reasoning))
        except EngineError as failure:
            error = failure
        yield from clock.events(splitter.finish())
        ended = Answered(splitter.answer, stats, error, question_id,
                         reasoning=splitter.reasoning, reasoning_seconds=clock.seconds)  # fmt: skip
        if splitter.answer or splitter.reasoning or error is None:
            # a failure before any text leaves nothing to keep
            ended = replace(ended, answer_id=self._save_answer(ended))
        yield ended

    # -- the store: every write is made here -------------------------------------------------------

    def open_conversation(self, conversation_id: int) -> Conversation:
        """Continue a stored conversation: its settings and template apply from now on (its model
        is the caller's to load). StorageError, KeyError."""
        conversation = self.store.get(conversation_id)
        self.conversation = conversation
        self.values.update({k: v for k, v in conversation.settings.items() if k in self.values})
        self.values["template"] = conversation.template
        return conversation

    def new_conversation(self) -> None:
        self.conversation = None

    def delete_conversation(self, conversation_id: int) -> None:
        if self.conversation is not None and self.conversation.id == conversation_id:
            self.conversation = None
        self.store.delete(conversation_id)

    def settings_changed(self) -> None:
        """`values` changed: the conversation keeps them."""
        if self.conversation is not None:
            self._save_settings()

    def _save_changes(self, question: str | None, edit, redo) -> int | None:
        if self.store is None:
            return None
        if edit is not None:
            self.store.edit_message(*edit)
        if redo is not None:
            self.store.delete_from(redo)
        if question is None:
            return None
        if self.conversation is None:
            self.conversation = self.store.create(
                self.spec, self.info.name, self.settings(), self.values["template"]
            )
        return self.store.add_message(self.conversation.id, "user", question).id

    def _save_answer(self, ended: Answered) -> int | None:
        if self.store is None or self.conversation is None:
            return None
        stats = ended.stats.to_dict() if ended.stats else None
        if stats is not None and ended.reasoning_seconds is not None:
            stats["reasoning_seconds"] = ended.reasoning_seconds
        stored = self.store.add_message(self.conversation.id, "assistant", ended.text,
                                        stopped=ended.stopped, stats=stats,
                                        reasoning=ended.reasoning or None)  # fmt: skip
        return stored.id

    def _save_model(self) -> None:
        self.store.update(self.conversation.id, model=self.spec, model_name=self.info.name)

    def _save_settings(self) -> None:
        self.store.update(
            self.conversation.id, settings=self.settings(), template=self.values["template"]
        )

    def close(self) -> None:
        """Unload the model; the store stays its owner's."""
        self.close_model()


class _ReasoningClock:
    """How long a model reasons: from its first reasoning text to its first answer text (or the end
    of the answer, where it never got past reasoning)."""

    def __init__(self) -> None:
        self._started: float | None = None
        self._ended: float | None = None

    @property
    def seconds(self) -> float | None:
        if self._started is None:
            return None
        return (self._ended or time.perf_counter()) - self._started

    def events(self, parts: Iterable[Part]) -> Iterator[TokenEvent]:
        for part in parts:
            if part.reasoning and self._started is None:
                self._started = time.perf_counter()
            elif not part.reasoning and self._started is not None and self._ended is None:
                self._ended = time.perf_counter()
            yield TokenEvent(part.text, part.reasoning)
