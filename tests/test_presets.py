"""Presets: the book in its YAML file (round trip, validation naming the field and the file, built-ins
read-only, duplicate/rename/delete, a default per model, a broken file), options built through
`chat_options`, and `llmtui compare --preset` (a real comparison of tiny GGUFs; exit 2 on a name
the book does not know)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tui.cli import main
from tui.core.chat.presets import (
    BUILT_IN,
    Preset,
    PresetBook,
    PresetError,
    model_key,
    sampling_overrides,
)
from tui.core.config.context import AppContext
from tui.core.config.paths import app_paths
from tui.core.config.settings import ChatSettings
from tui.core.engine.base import SamplingOptions, chat_options

HOSTILE = "[bold]red[/] \x1b[2J 日本語 🙂"


@pytest.fixture
def book(tmp_path) -> PresetBook:
    return PresetBook.load(tmp_path / "config" / "presets.yaml")


def test_a_book_round_trips_through_its_file(book):
    mine = Preset(
        "[bold]terse[/]", system_prompt=HOSTILE + "\nline two", temperature=0.3, top_k=0,
        seed=7, prompt_format="chatml", context_length=2048,
    )  # fmt: skip
    book.create(mine)
    book.set_default("/models/SmolLM2-135M-Instruct.Q4_1.gguf", mine.name)
    again = PresetBook.load(book.path)
    assert again.error is None
    assert again.get(mine.name) == mine
    assert again.default_for("elsewhere/smollm2-135m-instruct.q4_1.gguf") == mine
    # Settings at their defaults are left out of the file; built-ins are never written.
    text = book.path.read_text()
    assert "top_p" not in text and "balanced" not in text


def test_validation_names_the_file_and_the_field(book):
    book.path.parent.mkdir(parents=True)
    cases = {
        "presets:\n  - name: a\n  - name: b\n    temperature: hot\n": "presets[1].temperature",
        "presets:\n  - name: a\n    top_p: 1.5\n": "presets[0].top_p",
        "presets:\n  - name: a\n    top_k: 2.5\n": "presets[0].top_k",
        "presets:\n  - name: a\n    prompt_format: nonsense\n": "presets[0].prompt_format",
        "presets:\n  - name: a\n    tempreature: 1\n": "presets[0].tempreature",
        "presets:\n  - system_prompt: x\n": "presets[0].name",
        "presets:\n  - name: code\n": "presets[0].name",  # a built-in's name
        "presets:\n  - name: a\n  - name: a\n": "presets[1].name",
        "presets:\n  - name: a\n\tsystem_prompt: tab\n": "line 3",
    }
    for text, field in cases.items():
        book.path.write_text(text)
        error = PresetBook.load(book.path).error
        assert isinstance(error, PresetError), text
        assert error.field == field, text
        assert str(error).startswith(f"{book.path}: {field}: ") and "\n" not in str(error)
    with pytest.raises(PresetError) as caught:
        Preset.from_dict({"name": "x", "repeat_penalty": True})
    assert str(caught.value).startswith("repeat_penalty: expected a number from 0.5 to 3")


def test_built_ins_are_read_only(book):
    names = [p.name for p in BUILT_IN]
    assert {"precise", "balanced", "creative", "code"} <= set(names)
    assert all(p.built_in for p in BUILT_IN)
    code = book.get("code")
    with pytest.raises(PresetError, match="built in and cannot be deleted"):
        book.delete("code")
    # Editing one saves your own copy; the built-in stays as it shipped.
    copy = book.edit("code", replace(code, temperature=0.0))
    assert (copy.name, copy.temperature, copy.built_in) == ("code copy", 0.0, False)
    assert book.get("code") == code
    named = book.edit("code", replace(code, name="my code", max_tokens=64))
    assert named.name == "my code" and book.get("code") == code
    assert PresetBook.load(book.path).names()[-2:] == ["code copy", "my code"]


def test_duplicate_rename_delete(book):
    first = book.duplicate("creative")
    second = book.duplicate("creative")
    assert (first.name, second.name) == ("creative copy", "creative copy 2")
    assert replace(first, name="creative", built_in=True) == book.get("creative")
    book.set_default("some-model", "creative copy")
    renamed = book.edit("creative copy", replace(first, name="stories"))
    assert renamed.name == "stories" and book.find("creative copy") is None
    assert book.default_for("some-model") == renamed  # the default follows the rename
    with pytest.raises(PresetError, match="already exists"):
        book.edit("stories", replace(renamed, name="creative copy 2"))
    with pytest.raises(PresetError, match="already exists"):
        book.create(Preset("precise"))
    with pytest.raises(PresetError, match="name"):
        book.edit("stories", replace(renamed, name="two\nlines"))
    book.delete("stories")
    assert book.default_for("some-model") is None  # gone with its preset
    assert PresetBook.load(book.path).names() == [*(p.name for p in BUILT_IN), "creative copy 2"]
    with pytest.raises(PresetError, match=r"no preset named 'stories' \(presets: precise, "):
        book.get("stories")


def test_a_default_preset_per_model(book):
    assert model_key("/a/b/SmolLM2-135M-Instruct.Q4_1.gguf") == "smollm2-135m-instruct.q4_1"
    book.set_default("/a/SmolLM2.gguf", "code")
    book.set_default("gpu-box#Llama-3-8B", "creative")
    book.set_default("phi-2", "precise")
    assert book.default_for("/other/folder/smollm2.GGUF").name == "code"
    assert book.default_for("gpu-box#llama-3-8b").name == "creative"
    assert book.default_for("phi-2").name == "precise"
    assert book.default_for("qwen") is None
    book.set_default("phi-2", None)
    assert book.default_for("phi-2") is None
    with pytest.raises(PresetError, match="no preset named 'nope'"):
        book.set_default("phi-2", "nope")
    assert PresetBook.load(book.path).defaults() == {"smollm2": "code", "gpu-box#llama-3-8b": "creative"}


def test_a_broken_file_leaves_the_built_ins_and_is_never_overwritten(book):
    book.path.parent.mkdir(parents=True)
    book.path.write_text("presets:\n  - name: mine\n    temperature: hot\n")
    broken = PresetBook.load(book.path)
    assert isinstance(broken.error, PresetError) and "presets[0].temperature" in str(broken.error)
    assert broken.get("code") == next(p for p in BUILT_IN if p.name == "code")
    with pytest.raises(PresetError) as caught:
        broken.get("mine")  # perhaps the user's: the file's error says what to fix
    assert caught.value is broken.error
    for change in (lambda: broken.create(Preset("new")), lambda: broken.duplicate("code"),
                   lambda: broken.set_default("x", "code")):  # fmt: skip
        with pytest.raises(PresetError):
            change()
    assert book.path.read_text() == "presets:\n  - name: mine\n    temperature: hot\n"


def test_options_are_built_through_chat_options():
    chat = ChatSettings(temperature=0.9, seed=42, threads=3, context_length=8192,
                        system_prompt="from the settings")  # fmt: skip
    creative = next(p for p in BUILT_IN if p.name == "creative")
    load, sampling = chat_options(chat, creative.values())
    assert sampling == SamplingOptions(1.1, 1.0, 0, 0.1, 1.05, 1024, None)  # the preset's seed: random
    assert (load.n_ctx, load.n_threads) == (8192, 3)  # no context in the preset: the settings'
    assert creative.values()["system_prompt"] == ""  # the preset has none: none is sent
    mine = Preset("mine", system_prompt="be brief", seed=5, context_length=1024)
    load, sampling = chat_options(chat, mine.values(), temperature=0.0, max_tokens=None)
    assert (sampling.temperature, sampling.max_tokens, sampling.seed) == (0.0, 512, 5)
    assert (load.n_ctx, mine.values()["system_prompt"]) == (1024, "be brief")
    assert mine.values()["template"] is None and "context_length" not in creative.values()


def test_a_compared_model_takes_the_sampling_its_preset_changes():
    shared = SamplingOptions(seed=9)
    code = next(p for p in BUILT_IN if p.name == "code")
    assert sampling_overrides(code, shared) == {"temperature": 0.2, "repeat_penalty": 1.0,
                                                "max_tokens": 1024}  # fmt: skip
    assert sampling_overrides(Preset("same"), SamplingOptions()) == {}


def test_the_context_loads_the_book_once():
    paths = app_paths()
    paths.config_dir.mkdir(parents=True)
    paths.presets_file.write_text("presets:\n  - name: mine\n")
    context = AppContext.load()
    assert context.presets() is context.presets()
    assert context.presets().get("mine") == Preset("mine")


# -- llmtui compare --preset ------------------------------------------------------------------------


def test_compare_with_an_unknown_preset_exits_2_naming_the_known_ones(tiny_gguf, capsys):
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    beta = tiny_gguf(["Beta"], name="beta.gguf")
    for flag in ("nope", "2:nope"):
        assert main(["compare", str(alpha), str(beta), "--prompt", "hi", "--preset", flag]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "no preset named 'nope' (presets: precise, balanced, creative, code)" in err


def test_compare_with_a_broken_presets_file(tiny_gguf, capsys):
    paths = app_paths()
    paths.config_dir.mkdir(parents=True)
    paths.presets_file.write_text("presets: {oops\n")
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    beta = tiny_gguf(["Beta"], name="beta.gguf")
    assert main(["compare", str(alpha), str(beta), "--prompt", "hi", "--preset", "mine"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(paths.presets_file) in err and "not valid YAML" in err


@pytest.mark.inference
def test_compare_with_presets_for_all_per_model_and_by_default(tiny_gguf, capsys):
    alpha = tiny_gguf(["Alpha", " one", " two"], name="alpha.gguf")
    beta = tiny_gguf(["Beta", " one", " two"], name="beta.gguf")
    book = AppContext.load().presets()
    book.create(Preset("short", system_prompt="Answer in a few words, please.", max_tokens=1))
    book.create(Preset("two", max_tokens=2, temperature=0.0))

    def compare(*flags: str) -> dict:
        args = ["compare", str(alpha), str(beta), "--prompt", "hi", "--json", "--no-save",
                "--seed", "3", *flags]  # fmt: skip
        assert main(args) == 0
        return json.loads(capsys.readouterr().out)

    def answers(result: dict) -> list[str]:
        return [c["answer"] for c in sorted(result["cells"], key=lambda c: c["column"])]

    plain = compare()
    assert answers(plain) == ["Alpha one two", "Beta one two"]
    # For every model: its system prompt is sent (a longer prompt) and its max_tokens ends answers.
    short = compare("--preset", "short")
    assert answers(short) == ["Alpha", "Beta"]
    assert short["config"]["system_prompt"] == "Answer in a few words, please."
    tokens = [c["stats"]["prompt_tokens"] for c in short["cells"]]
    assert all(t > p["stats"]["prompt_tokens"] for t, p in zip(tokens, plain["cells"], strict=True))
    # For model 2 only: its sampling; a flag still wins over the preset for all.
    mixed = compare("--preset", "short", "--preset", "2:two", "--max-tokens", "3")
    assert answers(mixed) == ["Alpha one two", "Beta one"]
    assert mixed["config"]["models"][1]["overrides"] == {"max_tokens": 2, "temperature": 0.0}
    # A model's default preset gives its sampling, unless a preset is chosen for the comparison.
    book.set_default(str(beta), "short")
    assert answers(compare()) == ["Alpha one two", "Beta"]
    assert answers(compare("--preset", "balanced")) == ["Alpha one two", "Beta one two"]
