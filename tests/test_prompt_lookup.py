"""Prompt-lookup decoding in the worker: the same text as without it, and the drafts counted."""

from __future__ import annotations

from tests.test_engine_local import open_backend, run  # noqa: F401 - a fixture
from tui.core.config.settings import ChatSettings
from tui.core.engine.base import LoadOptions, Message, chat_options
from tui.core.engine.structured import ResponseFormat

SCRIPT = ["The", " quick", " brown", " fox", " jumps", " over", " [bold]", " \x1b[2J", " 🙂"]
TEXT = (
    "The lighthouse stood on the northern cliff for two hundred years. Every night the keeper "
    "climbed the steps, lit the lamp, and wound the clockwork that turned the lens."
)
REPEAT = [Message("user", f"Repeat this text exactly:\n\n{TEXT}")]
FREE = [Message("user", "Write a short poem about the sea.")]


def test_the_setting_reaches_the_load_options():
    load, _ = chat_options(ChatSettings(prompt_lookup=5))
    assert load.prompt_lookup == 5
    assert chat_options(ChatSettings())[0].prompt_lookup == 0
    assert chat_options(ChatSettings(), prompt_lookup=3)[0].prompt_lookup == 3


def test_a_scripted_answer_found_in_the_prompt_is_drafted_and_kept(tiny_gguf, open_backend):  # noqa: F811
    path = tiny_gguf(SCRIPT)
    ask = [Message("user", "Say: " + "".join(SCRIPT))]
    plain, plain_stats = run(open_backend(path), ask, temperature=0.0)
    drafted, stats = run(
        open_backend(path, load=LoadOptions(prompt_lookup=10)), ask, temperature=0.0
    )
    assert drafted == plain == "".join(SCRIPT)
    assert (plain_stats.draft_proposed, plain_stats.draft_accepted) == (0, 0)
    # After the first piece, each next one follows it in the prompt: all of them are drafted and
    # kept; the drafts that go on past the script's end (the prompt's own end) are refused.
    assert stats.draft_accepted == len(SCRIPT) - 1
    assert stats.draft_proposed > stats.draft_accepted
    assert stats.completion_tokens == plain_stats.completion_tokens == len(SCRIPT)
    assert stats.draft_acceptance == stats.draft_accepted / stats.draft_proposed


def test_max_tokens_holds_with_drafts_in_flight(tiny_gguf, open_backend):  # noqa: F811
    path = tiny_gguf(SCRIPT)
    ask = [Message("user", "Say: " + "".join(SCRIPT))]
    backend = open_backend(path, load=LoadOptions(prompt_lookup=10))
    text, stats = run(backend, ask, temperature=0.0, max_tokens=4)
    assert text == "".join(SCRIPT[:4])
    assert (stats.finish_reason, stats.completion_tokens) == ("length", 4)
    assert stats.draft_proposed <= 3  # never drafted past the answer's end


def test_smollm2_keeps_more_drafts_where_it_repeats_its_input(smollm2, open_backend):  # noqa: F811
    # Not compared with the text a model without drafts gives: llama.cpp's CPU kernels give a batch
    # of 3 or more tokens logits that differ by up to ~1 from one token at a time, and a near tie
    # can go the other way (bench/README.md, "Prompt lookup"); the tiny model above is exact.
    backend = open_backend(smollm2, load=LoadOptions(n_ctx=1024, prompt_lookup=5))
    text, repeating = run(backend, REPEAT, temperature=0.0, max_tokens=80)
    _, free = run(backend, FREE, temperature=0.0, max_tokens=80)
    assert "northern cliff" in text
    assert repeating.draft_accepted > repeating.completion_tokens // 3
    assert repeating.draft_acceptance > (free.draft_acceptance or 0)


def test_drafts_and_a_schema_together(smollm2, open_backend):  # noqa: F811
    fmt = ResponseFormat.json_object()
    ask = [Message("user", 'Return this JSON unchanged: {"name": "Ada", "born": 1815}')]
    backend = open_backend(smollm2, load=LoadOptions(n_ctx=1024, prompt_lookup=5))
    text, stats = run(backend, ask, temperature=0.0, max_tokens=60, response_format=fmt)
    assert fmt.check(text) is None, text
    assert stats.draft_accepted > 0
