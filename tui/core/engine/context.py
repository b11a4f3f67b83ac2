"""When a conversation outgrows the context: drop its oldest turns, or stop and say so.
Never truncate silently.

The prompt is measured with the model's own tokenizer (`Backend.count_tokens`), leaving room for the
answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tui.core.engine.base import Backend, EngineError, Message

POLICIES = ("drop_oldest", "stop")


@dataclass(frozen=True)
class Fitted:
    messages: list[Message]
    prompt_tokens: int
    dropped: int  # messages left out of the prompt (they stay in the conversation)


def answer_reserve(max_tokens: int, n_ctx: int) -> int:
    """Room kept for the answer: max_tokens, but never more than half the context."""
    return min(max_tokens if max_tokens > 0 else n_ctx, n_ctx // 2)


def fit_messages(
    backend: Backend,
    messages: Sequence[Message],
    n_ctx: int,
    reserve: int,
    policy: str = "drop_oldest",
) -> Fitted:
    """The messages to send so the prompt plus `reserve` tokens fits in `n_ctx`. EngineError("context")
    when the policy is "stop" and it does not fit, or when even the last question alone does not."""
    if policy not in POLICIES:
        raise ValueError(f"unknown context policy {policy!r}")
    messages = list(messages)
    system = [m for m in messages[:1] if m.role == "system"]
    turns = messages[len(system) :]
    budget = n_ctx - reserve
    used = backend.count_tokens(messages)
    if used <= budget:
        return Fitted(messages, used, 0)
    if policy == "stop":
        raise EngineError(
            f"the conversation takes {used:,} tokens and the context holds {n_ctx:,} with {reserve:,} kept "
            "for the answer: start a new chat, shorten it, or let the oldest turns drop out",
            "context",
        )
    dropped = 0
    # Drop whole exchanges from the front (the last message, the new question, always stays).
    while len(turns) > 1:
        cut = 1
        while cut < len(turns) - 1 and turns[cut].role != "user":
            cut += 1
        turns = turns[cut:]
        dropped += cut
        used = backend.count_tokens(system + turns)
        if used <= budget:
            return Fitted(system + turns, used, dropped)
    raise EngineError(
        f"the question alone takes {used:,} tokens and the context holds {n_ctx:,} with {reserve:,} kept for "
        "the answer: shorten it, lower max tokens or load the model with a longer context",
        "context",
    )
