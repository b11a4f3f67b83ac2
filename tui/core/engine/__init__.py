"""Running models. One backend interface (`base.Backend`) with local llama-cpp-python and remote
OpenAI-compatible servers behind it; chat and compare talk only to that interface."""

from tui.core.engine.base import (
    AnswerStats,
    Backend,
    DoneEvent,
    EngineError,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingOptions,
    StreamEvent,
    TokenEvent,
)

__all__ = [
    "AnswerStats",
    "Backend",
    "DoneEvent",
    "EngineError",
    "LoadOptions",
    "Message",
    "ModelInfo",
    "SamplingOptions",
    "StreamEvent",
    "TokenEvent",
]
