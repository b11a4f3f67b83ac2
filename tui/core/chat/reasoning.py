"""Reasoning kept apart from the answer: `<think>…</think>` and the other families' markers.

Models that reason first write a block between markers, then the answer. `ReasoningSplitter` takes
the text as it streams (a marker may be cut across fragments) and gives back `Part`s marked
reasoning or answer; `split_reasoning` does the same for a whole text. As llama.cpp's server does,
a block counts only at the start of an answer (after blank space): a marker later in an answer is
text the model wrote about markers. When the prompt format opens the block itself (its generation
prompt ends with `<think>`), the answer starts inside reasoning: `opened_marker(prompt)` says so.

Reasoning is dropped from the context sent back on the next turn (`without_reasoning`), as the model
families that reason expect, and checks apply to the answer alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from tui.core.engine.base import Message

# (open, close) pairs, as the model families write them.
KNOWN_MARKERS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"),  # DeepSeek-R1, Qwen3, QwQ, Phi-4-reasoning, SmolLM3, GLM
    ("<thinking>", "</thinking>"),
    ("<seed:think>", "</seed:think>"),  # Seed-OSS
    ("[THINK]", "[/THINK]"),  # Magistral
    ("<|START_THINKING|>", "<|END_THINKING|>"),  # Command R7B, Command A
    ("<|begin_of_thought|>", "<|end_of_thought|>"),
    ("◁think▷", "◁/think▷"),  # Kimi
)


@dataclass(frozen=True)
class Part:
    text: str
    reasoning: bool


def opened_marker(prompt: str, markers: Sequence[tuple[str, str]] = KNOWN_MARKERS) -> str:
    """The open marker `prompt` ends with ("" when none): the answer then starts inside reasoning.
    A prompt that opens and closes an empty block (Qwen3 with thinking off) ends with the close."""
    tail = prompt.rstrip()
    return next((opening for opening, _ in markers if tail.endswith(opening)), "")


class ReasoningSplitter:
    """Splits a streamed answer into reasoning and answer parts.

    `opened`: the open marker the prompt already ended with (see `opened_marker`). `feed` returns
    what is certain now and holds back text that may be the start of a marker; `finish` gives the
    rest. `reasoning` and `answer` are the whole texts so far.
    """

    def __init__(self, opened: str = "", markers: Sequence[tuple[str, str]] = KNOWN_MARKERS) -> None:
        self.markers = tuple(markers)
        self._close = dict(self.markers).get(opened, "")
        self._state = "reasoning" if self._close else "start"
        self._held = ""
        self._strip = True  # blank space at the start of the reasoning or the answer is dropped
        self._reasoning: list[str] = []
        self._answer: list[str] = []

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning).strip()

    @property
    def answer(self) -> str:
        return "".join(self._answer)

    @property
    def in_reasoning(self) -> bool:
        return self._state == "reasoning"

    def feed(self, text: str, reasoning: bool = False) -> list[Part]:
        """The parts `text` completes. `reasoning`: a server already said this text is reasoning
        (OpenAI-style `reasoning_content`)."""
        if reasoning:
            return self._emit(text, True)
        if self._state == "answer":
            return self._emit(text, False)
        self._held += text
        if self._state == "start":
            return self._at_start()
        return self._in_reasoning()

    def finish(self) -> list[Part]:
        """The text held back: an unfinished marker is text after all."""
        held, self._held = self._held, ""
        if self._state == "start":
            self._state = "answer"
            self._strip = False  # blank space before a short answer is the answer's
        return self._emit(held, self._state == "reasoning")

    def _at_start(self) -> list[Part]:
        text = self._held.lstrip()
        for opening, closing in self.markers:
            if text.startswith(opening):
                self._held = text[len(opening) :]
                self._state, self._close = "reasoning", closing
                return self._in_reasoning()
        if not text or any(opening.startswith(text) for opening, _ in self.markers):
            return []  # only blank space so far, or maybe a marker: wait for more
        held, self._held = self._held, ""
        self._state, self._strip = "answer", False
        return self._emit(held, False)

    def _in_reasoning(self) -> list[Part]:
        cut = self._held.find(self._close)
        if cut >= 0:
            before, after = self._held[:cut], self._held[cut + len(self._close) :]
            self._held = ""
            parts = self._emit(before, True)
            self._state, self._strip = "answer", True
            return parts + self._emit(after, False)
        keep = next(
            (n for n in range(min(len(self._close) - 1, len(self._held)), 0, -1)
             if self._held.endswith(self._close[:n])),
            0,
        )  # fmt: skip
        ready = self._held[: len(self._held) - keep]
        self._held = self._held[len(ready) :]
        return self._emit(ready, True)

    def _emit(self, text: str, reasoning: bool) -> list[Part]:
        if self._strip:
            text = text.lstrip()
            self._strip = not text  # still at the start while only blank space came
        if not text:
            return []
        (self._reasoning if reasoning else self._answer).append(text)
        return [Part(text, reasoning)]


def split_reasoning(text: str, opened: str = "") -> tuple[str, str]:
    """(reasoning, answer) of a whole answer text; reasoning "" when there is none."""
    splitter = ReasoningSplitter(opened)
    splitter.feed(text)
    splitter.finish()
    return splitter.reasoning, splitter.answer


def without_reasoning(messages: Iterable[Message]) -> list[Message]:
    """The conversation to send back: each assistant message's answer alone."""
    return [
        replace(m, content=split_reasoning(m.content)[1]) if m.role == "assistant" else m for m in messages
    ]
