"""A snapshot of the chat screen with a past conversation (pytest-textual-snapshot, pinned).

The conversation is written to the store first and opened from the list, so nothing depends on
timing: the stats shown are the stored ones, the model (a tiny deterministic GGUF) loads before
the picture is taken, the header has no clock and the cursor does not blink. Regenerate after an
intended change (`pytest tests/test_snapshots_chat.py --snapshot-update`) and review the SVG.
"""

from __future__ import annotations

from tui.core.catalogue import load_catalogue
from tui.core.chat.store import ConversationStore
from tui.core.config.paths import app_paths
from tui.ui.app import LlmTui
from tui.ui.chat.screen import ChatScreen
from tui.ui.chat.widgets import ChatInput

ANSWER = """Here is a function:

```python
def add(a, b):
    return a + b
```

It adds **two** numbers; `[bold]` stays text."""
STATS = {
    "prompt_tokens": 31,
    "completion_tokens": 42,
    "time_to_first_token": 0.0123,
    "generation_seconds": 0.5,
    "total_seconds": 0.52,
    "context_used": 73,
    "context_size": 512,
    "finish_reason": "stop",
}


def opened(conversation_id: int):
    """What to run before the picture: the chat screen with this stored conversation open."""

    async def open_it(pilot) -> None:
        await pilot.press("4")
        for _ in range(500):
            if isinstance(pilot.app.screen, ChatScreen):
                break
            await pilot.pause(0.02)
        screen = pilot.app.screen
        chat_input = screen.query_one(ChatInput)
        chat_input.cursor_blink = False  # before it gets the focus: then the cursor stays shown
        await screen.open_conversation(conversation_id)
        for _ in range(500):  # the model loads and the context meter counts the conversation
            if screen.info is not None and screen.context_used:
                break
            await pilot.pause(0.02)
        chat_input.focus()
        await pilot.pause()

    return open_it


def test_chat_with_a_past_conversation(snap_compare, tiny_gguf):
    model = tiny_gguf(["unused"])
    store = ConversationStore(app_paths().database)
    conversation = store.create(str(model), "tiny-script", {"context_length": 512})
    store.add_message(conversation.id, "user", "Write a Python function that adds two numbers")
    store.add_message(conversation.id, "assistant", ANSWER, stats=STATS)
    store.add_message(conversation.id, "user", "And subtract?")
    store.add_message(conversation.id, "assistant", "def sub(a, b):", stopped=True)
    store.close()

    assert snap_compare(LlmTui(load_catalogue()), terminal_size=(120, 40),
                        run_before=opened(conversation.id))  # fmt: skip


def test_chat_with_a_folded_reasoning_block(snap_compare, tiny_gguf):
    model = tiny_gguf(["unused"])
    store = ConversationStore(app_paths().database)
    conversation = store.create(str(model), "tiny-script", {"context_length": 512})
    store.add_message(conversation.id, "user", "Is 91 prime?")
    store.add_message(conversation.id, "assistant", "No: **91 = 7 × 13**.",
                      stats={**STATS, "reasoning_seconds": 2.4},
                      reasoning="91 is odd. 91 / 7 = 13 [bold]so[/] it has factors.")  # fmt: skip
    store.close()

    assert snap_compare(LlmTui(load_catalogue()), terminal_size=(120, 40),
                        run_before=opened(conversation.id))  # fmt: skip


async def _chat(pilot) -> ChatScreen:
    await pilot.press("4")
    for _ in range(500):
        if isinstance(pilot.app.screen, ChatScreen):
            break
        await pilot.pause(0.02)
    screen = pilot.app.screen
    screen.query_one(ChatInput).cursor_blink = False
    return screen


def test_chat_an_answer_with_alternatives(snap_compare, tiny_gguf):
    """The second of three answers shown: "‹ 2/3 ›" on its title line."""
    model = tiny_gguf(["unused"])
    store = ConversationStore(app_paths().database)
    conversation = store.create(str(model), "tiny-script", {"context_length": 512})
    store.add_message(conversation.id, "user", "Name a colour")
    first = store.add_message(conversation.id, "assistant", "Red.", stats=STATS)
    second = store.add_alternative(conversation.id, first.id, "Blue [bold] (not markup).")
    store.add_alternative(conversation.id, first.id, "Green.")
    store.select(conversation.id, second.id)
    store.close()

    async def open_it(pilot) -> None:
        screen = await _chat(pilot)
        await screen.open_conversation(conversation.id)
        for _ in range(500):
            if screen.info is not None and screen.context_used:
                break
            await pilot.pause(0.02)
        screen.query_one(ChatInput).focus()
        await pilot.pause()

    assert snap_compare(LlmTui(load_catalogue()), terminal_size=(120, 40), run_before=open_it)


def test_chat_search_hits(snap_compare, tiny_gguf):
    """Messages found as one types, the matches styled, the text (hostile) shown literally."""
    model = tiny_gguf(["unused"])
    store = ConversationStore(app_paths().database)
    for question, answer in (
        ("How do I sort a list?", "Use sorted(items) or items.sort() [bold] in place."),
        ("What is a sorting network?", "A fixed sequence of compare-and-swap steps."),
        ("Tell me a joke", "No sorting here."),
    ):
        conversation = store.create(str(model), "tiny-script")
        store.add_message(conversation.id, "user", question)
        store.add_message(conversation.id, "assistant", answer)
    store.close()

    async def search(pilot) -> None:
        screen = await _chat(pilot)
        await pilot.press("ctrl+f", *"sort")
        for _ in range(500):
            if screen.query_one("#search-hits").option_count:
                break
            await pilot.pause(0.02)
        await pilot.pause()

    assert snap_compare(LlmTui(load_catalogue()), terminal_size=(120, 40), run_before=search)
