"""The one interface for "something that can stream a chat answer".

A backend is loaded once, then streams answers; `stop()` may be called from any thread and ends the
answer in flight at once (a local backend ends its worker's work, a remote one closes the stream).
Streams yield `TokenEvent`s and end with exactly one `DoneEvent` carrying the answer's stats; a failure
raises `EngineError` (with the partial answer, if any, already yielded).
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from tui.core.config.settings import ChatSettings, Sampling
from tui.core.engine.structured import ResponseFormat
from tui.core.errors import LlmtuiError

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled", "error", "context"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class LoadOptions:
    """How a local model is loaded (ignored by remote backends)."""

    n_ctx: int = 4096
    n_threads: int | None = None  # None: llama.cpp's default
    n_gpu_layers: int = 0  # -1: all layers
    seed: int = 0xFFFFFFFF  # llama.cpp's "random"
    use_mmap: bool = True
    # Prompt-lookup decoding: up to this many tokens drafted per step from the conversation itself
    # and checked in one batch (0: off). It needs every position's logits, so it is set at load.
    prompt_lookup: int = 0


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def takes_every_core(n_threads: int | None, offloaded_layers: Sequence[int] | None) -> bool:
    """Whether a local model's CPU threads leave no core free. llama.cpp's threads meet at a barrier
    for every operation, so then any other thread that wakes preempts one of them and the rest wait
    for it: whatever runs beside the model should wake as seldom as it can (bench/README.md,
    "Chat"). With every layer on the GPU the CPU threads mostly wait."""
    on_gpu = bool(offloaded_layers) and offloaded_layers[0] == offloaded_layers[1]
    return bool(n_threads) and not on_gpu and n_threads >= usable_cores()


@dataclass(frozen=True)
class SamplingOptions(Sampling):
    """How one answer is sampled: the sampling settings (a random seed is None here) and the form
    the answer must take."""

    seed: int | None = None  # None: random
    response_format: ResponseFormat | None = None  # None: free text

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SamplingOptions:
        data = dict(data)
        if data.get("response_format"):
            data["response_format"] = ResponseFormat(**data["response_format"])
        return cls(**data)


def chat_options(
    chat: ChatSettings, preset: Mapping[str, Any] | None = None, **overrides
) -> tuple[LoadOptions, SamplingOptions]:
    """How chat and compare load and sample: the chat settings with a `preset`'s values (a
    Preset's `values()`, or a chat's) over them and `overrides` (e.g. from the command line) over
    both, all by the settings' names (see `ChatSettings.layered`)."""
    v = chat.layered(preset, overrides)
    load = LoadOptions(
        v["context_length"], v["threads"] or None, v["gpu_layers"], prompt_lookup=v["prompt_lookup"]
    )
    sampling = {f.name: v[f.name] for f in fields(Sampling)}
    return load, SamplingOptions(**{**sampling, "seed": None if v["seed"] < 0 else v["seed"]})


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded model is, and which prompt format it is answered in."""

    name: str
    location: str  # a file path, or URL#MODEL for a remote model
    context_size: int
    trained_context: int | None = None
    architecture: str | None = None
    template_name: str | None = None
    # Where the chat template came from: "gguf" (embedded), "family" (a known format guessed from the
    # model's family), "user", or "server" (a remote server applies its own).
    template_source: str = "gguf"
    load_seconds: float = 0.0
    template_label: str | None = None  # the format's display name, e.g. "ChatML"
    template_reason: str = ""  # why a guessed format was chosen
    context_reported: bool = True  # False: a server did not say, `context_size` is assumed
    # The reasoning marker the prompt format opens before every answer ("" when none): the answer
    # then starts inside reasoning (tui.core.chat.reasoning).
    reasoning_opened: str = ""
    # A local model: how llama.cpp runs it.
    llama_cpp_version: str | None = None
    n_threads: int | None = None
    n_layers: int | None = None
    gpu_offload_supported: bool | None = None
    offloaded_layers: tuple[int, int] | None = None  # (on the GPU, in all), as llama.cpp said
    offload_report: tuple[str, ...] = ()  # llama.cpp's log lines about devices and offloading

    @property
    def template_is_guess(self) -> bool:
        return self.template_source == "family"

    @property
    def takes_every_core(self) -> bool:
        """A local model whose threads leave no core free (never a remote one)."""
        return takes_every_core(self.n_threads, self.offloaded_layers)


@dataclass
class AnswerStats:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token: float | None = None  # seconds from the request to the first token
    generation_seconds: float = 0.0  # first token to last
    total_seconds: float = 0.0
    context_used: int = 0
    context_size: int = 0
    finish_reason: FinishReason = "stop"
    # Prompt-lookup decoding: tokens drafted, and how many of them the model confirmed.
    draft_proposed: int = 0
    draft_accepted: int = 0

    @property
    def draft_acceptance(self) -> float | None:
        return self.draft_accepted / self.draft_proposed if self.draft_proposed else None

    @property
    def tokens_per_second(self) -> float | None:
        if self.completion_tokens < 2 or self.generation_seconds <= 0:
            return None
        # The first token's time belongs to prompt processing.
        return (self.completion_tokens - 1) / self.generation_seconds

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tokens_per_second"] = self.tokens_per_second
        return data


@dataclass(frozen=True)
class TokenEvent:
    text: str
    reasoning: bool = False  # a server sent it apart as reasoning (`reasoning_content`)


@dataclass(frozen=True)
class DoneEvent:
    stats: AnswerStats


StreamEvent = TokenEvent | DoneEvent

ErrorKind = Literal[
    "not_found",  # no such file / model
    "bad_file",  # not a GGUF, truncated, corrupted
    "unsupported",  # architecture llama.cpp does not know
    "too_large",  # will not fit in memory
    "context",  # prompt longer than the context
    "crashed",  # the worker died
    "network",  # remote: connection, DNS, TLS, timeout
    "auth",  # remote: 401/403
    "server",  # remote: 4xx/5xx, stream cut
    "other",
]


class EngineError(LlmtuiError):
    """A failure a user can act on; `message` is plain text (untrusted parts already included)."""

    def __init__(self, message: str, kind: ErrorKind = "other", partial: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.partial = partial  # the part of an answer that arrived before the failure


class Backend(ABC):
    """Something that can stream a chat answer. Optional capabilities have defaults here, so a
    caller asks the interface, never the class."""

    #: short name for columns and lists, e.g. "SmolLM2-135M-Instruct.Q4_1" or "smollm2 @ gpu-box"
    label: str
    #: the GGUF file on this machine a local backend runs (None: remote)
    path: Path | None = None
    #: whether `set_template` can change the prompt format (a server applies its own)
    can_set_template: bool = False

    @property
    def pid(self) -> int | None:
        """The process on this machine running the model, while it runs (its memory is sampled)."""
        return None

    def set_template(self, choice: str | None) -> ModelInfo:
        """Answer in another prompt format from now on (None: automatic), without reloading."""
        raise EngineError(f"{self.label} answers in its server's own prompt format", "unsupported")

    @abstractmethod
    def load(self) -> ModelInfo:
        """Load (or connect); blocking. Raises EngineError."""

    @abstractmethod
    def stream(
        self,
        messages: Sequence[Message],
        sampling: SamplingOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamEvent]:
        """Stream one answer: TokenEvents, then one DoneEvent. Raises EngineError."""

    @abstractmethod
    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the prompt for these messages takes (the model's own tokenizer where there is one)."""

    @abstractmethod
    def stop(self) -> None:
        """End the answer in flight now; safe from any thread, a no-op when idle."""

    @abstractmethod
    def close(self) -> None:
        """Unload and free everything; the backend cannot be used afterwards."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
