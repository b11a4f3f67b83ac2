"""A scripted `Backend` for tests that exercise what surrounds a model (sessions, screens, error
paths) and need no inference: it answers each request with the next script, one token per piece.
Tests that claim inference works use real models (tiny GGUFs, SmolLM2) instead."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from tui.core.engine.base import (
    AnswerStats,
    Backend,
    DoneEvent,
    Message,
    ModelInfo,
    SamplingOptions,
    StreamEvent,
    TokenEvent,
)


class FakeBackend(Backend):
    """Answers with `scripts` in turn (the last one again when they run out). A script item that is
    an exception is raised at that point of the answer. Records what it was asked."""

    can_set_template = True

    def __init__(self, scripts: Sequence[Sequence[str | Exception]] = (("Hello", "!"),), *,
                 label: str = "fake", context_size: int = 4096, load_error: Exception | None = None,
                 tokens_per_message: int = 10) -> None:  # fmt: skip
        self.label = label
        self.scripts = [list(s) for s in scripts]
        self.context_size = context_size
        self.load_error = load_error
        self.tokens_per_message = tokens_per_message
        self.requests: list[list[Message]] = []
        self.template: str | None = None
        self.closed = False
        self._stop = threading.Event()
        self._answers = 0

    def _info(self) -> ModelInfo:
        return ModelInfo(self.label, f"fake://{self.label}", self.context_size,
                         template_name=self.template or "gguf",
                         template_source="user" if self.template else "gguf")  # fmt: skip

    def load(self) -> ModelInfo:
        if self.load_error is not None:
            raise self.load_error
        return self._info()

    def set_template(self, choice: str | None) -> ModelInfo:
        self.template = choice
        return self._info()

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return self.tokens_per_message * len(messages)

    def stream(self, messages: Sequence[Message], sampling: SamplingOptions,
               cancel: threading.Event | None = None) -> Iterator[StreamEvent]:  # fmt: skip
        self.requests.append(list(messages))
        script = self.scripts[min(self._answers, len(self.scripts) - 1)]
        self._answers += 1
        self._stop.clear()
        stats = AnswerStats(prompt_tokens=self.count_tokens(messages),
                            context_size=self.context_size)  # fmt: skip
        for piece in script:
            if self._stop.is_set() or (cancel is not None and cancel.is_set()):
                stats.finish_reason = "cancelled"
                break
            if isinstance(piece, Exception):
                raise piece
            stats.completion_tokens += 1
            yield TokenEvent(piece)
        stats.context_used = stats.prompt_tokens + stats.completion_tokens
        yield DoneEvent(stats)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.closed = True

