"""`llmtui chat MODEL --prompt TEXT`: one answer on stdout (or JSON), bad input is one line and exit 2."""

from __future__ import annotations

import json

from tui.cli import main

HOSTILE = ["Hello", ", ", "[bold]", "world", "[/]", "\x1b[2J", "```py", "你好", "🙂"]


def test_json_answer_with_stats(tiny_gguf, capsys):
    assert (
        main(
            [
                "chat",
                str(tiny_gguf(HOSTILE)),
                "--prompt",
                "Say it",
                "--system",
                "Be exact.",
                "--json",
            ]
        )
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["answer"] == "".join(HOSTILE)
    assert (document["template"], document["template_source"], document["template_is_guess"]) == (
        "gguf",
        "gguf",
        False,
    )
    stats = document["stats"]
    assert stats["completion_tokens"] == len(HOSTILE) and stats["finish_reason"] == "stop"
    assert stats["prompt_tokens"] > 0 and stats["context_used"] == stats["prompt_tokens"] + len(
        HOSTILE
    )


def test_streams_the_exact_text_when_piped(tiny_gguf, capsys):
    assert main(["chat", str(tiny_gguf(HOSTILE)), "--prompt", "Say it", "--max-tokens", "4"]) == 0
    assert capsys.readouterr().out == "Hello, [bold]world\n"


def test_a_guessed_template_is_said_on_stderr(tiny_gguf, capsys):
    path = tiny_gguf(["ok"], chat_template=None, name="vicuna-7b")
    assert main(["chat", str(path), "--prompt", "hi"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "ok\n"
    assert "prompt format guessed (vicuna)" in captured.err


def test_bad_inputs_are_one_line_and_exit_2(tiny_gguf, tmp_path, capsys):
    not_gguf = tmp_path / "notes.txt"
    not_gguf.write_text("hello")
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(tiny_gguf(["x"]).read_bytes()[:-500])
    cases = {
        str(not_gguf): "notes.txt: not a GGUF file",
        str(truncated): "is truncated",
        str(tmp_path / "missing.gguf"): "no such file",
        "nobody/nothing-GGUF": "is not downloaded",
    }
    for spec, expected in cases.items():
        assert main(["chat", spec, "--prompt", "hi"]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.count("\n") == 1 and expected in captured.err, captured.err


def test_prompt_longer_than_the_context_exits_2(tiny_gguf, capsys):
    assert main(["chat", str(tiny_gguf(["x"])), "--ctx", "256", "--prompt", "word " * 400]) == 2
    assert "context holds 256" in capsys.readouterr().err


async def test_without_prompt_the_chat_screen_opens_on_the_model(tiny_gguf, monkeypatch):
    from tui.ui.app import LlmTui
    from tui.ui.chat.screen import ChatScreen

    path = tiny_gguf(["ok"])
    apps = []
    monkeypatch.setattr(LlmTui, "run", lambda self: apps.append(self))
    flags = ["--temperature", "0", "--ctx", "512", "--system", "Be brief"]
    assert main(["chat", str(path), *flags]) == 0
    (app,) = apps
    async with app.run_test() as pilot:
        for _ in range(300):
            if isinstance(app.screen, ChatScreen) and app.screen.info is not None:
                break
            await pilot.pause(0.02)
        screen = app.screen
        assert screen.session.spec == str(path) and screen.info.name == "tiny-script"
        # The flags are the screen's settings: loaded with that context, shown in the panel.
        assert screen.info.context_size == 512
        values = screen.session.values
        assert (values["temperature"], values["system_prompt"]) == (0.0, "Be brief")
        assert screen.query_one("#set-context_length").value == "512"


def test_a_model_in_a_user_folder_is_found_by_its_file_name(tiny_gguf, tmp_path, capsys):
    from tui.core.config.paths import app_paths

    folder = tmp_path / "my-models"
    folder.mkdir()
    (folder / "tiny.Q4_K_M.gguf").write_bytes(tiny_gguf(["found"]).read_bytes())
    settings = app_paths().settings_file
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(f"model_dirs: [{str(folder)!r}]\n")
    assert main(["chat", "tiny.Q4_K_M.gguf", "--prompt", "hi"]) == 0
    assert capsys.readouterr().out == "found\n"
    assert main(["chat", "other.gguf", "--prompt", "hi"]) == 2
    assert "no file named other.gguf in the Hugging Face cache and your model folders" in (
        capsys.readouterr().err
    )


def test_an_answer_is_kept_with_the_chat_screens_conversations_unless_no_save(tiny_gguf, capsys):
    from tui.core.chat.store import ConversationStore
    from tui.core.config.paths import app_paths

    path = str(tiny_gguf(["Kept", " [bold]"]))
    assert main(["chat", path, "--prompt", "remember [/]", "--temperature", "0.25"]) == 0
    assert main(["chat", path, "--prompt", "forget me", "--no-save"]) == 0
    assert capsys.readouterr().out == "Kept [bold]\nKept [bold]\n"
    store = ConversationStore(app_paths().database)
    try:
        (summary,) = store.list()
        kept = store.get(summary.id)
    finally:
        store.close()
    assert [(m.role, m.content) for m in kept.messages] == [
        ("user", "remember [/]"),
        ("assistant", "Kept [bold]"),
    ]
    assert kept.model == path and kept.settings["temperature"] == 0.25


def _preset(**settings) -> None:
    from tui.core.chat.presets import Preset
    from tui.core.config.context import AppContext

    AppContext.load().presets().create(Preset("short [bold", **settings))


def test_preset_limits_the_answer_and_gives_its_system_prompt(tiny_gguf, capsys):
    path = str(tiny_gguf(HOSTILE))
    _preset(max_tokens=3, system_prompt="Answer in one word, always, whatever is asked. " * 4)
    assert main(["chat", path, "--prompt", "Say it", "--json", "--no-save"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["chat", path, "--prompt", "Say it", "--json", "--preset", "short [bold"]) == 0
    preset = json.loads(capsys.readouterr().out)
    assert preset["answer"] == "".join(HOSTILE[:3]) and preset["stats"]["finish_reason"] == "length"
    assert plain["answer"] == "".join(HOSTILE)
    # The system prompt reached the model: the prompt is longer by it.
    assert preset["stats"]["prompt_tokens"] > plain["stats"]["prompt_tokens"] + 20
    # A flag goes over the preset's setting.
    assert main(["chat", path, "--prompt", "x", "--preset", "short [bold", "--max-tokens", "5"]) == 0
    assert capsys.readouterr().out == "".join(HOSTILE[:5]) + "\n"


def test_an_unknown_preset_is_one_line_naming_the_known_ones(tiny_gguf, capsys):
    _preset()
    assert main(["chat", str(tiny_gguf(["x"])), "--prompt", "hi", "--preset", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "no preset named 'nope'" in captured.err
    assert "precise, balanced, creative, code, short [bold" in captured.err


async def test_preset_opens_the_chat_screen_with_it(tiny_gguf, monkeypatch):
    from tui.ui.app import LlmTui
    from tui.ui.chat.screen import ChatScreen

    apps = []
    monkeypatch.setattr(LlmTui, "run", lambda self: apps.append(self))
    assert main(["chat", str(tiny_gguf(["ok"])), "--preset", "precise", "--top-k", "7"]) == 0
    (app,) = apps
    async with app.run_test() as pilot:
        for _ in range(300):
            if isinstance(app.screen, ChatScreen) and app.screen.info is not None:
                break
            await pilot.pause(0.02)
        screen = app.screen
        precise = app.context.presets().get("precise")
        assert screen.session.preset == precise
        values = screen.session.values
        assert (values["temperature"], values["top_k"]) == (precise.temperature, 7)
        assert screen.query_one("#set-preset").value == "precise"
        assert screen.query_one("#set-top_k").value == "7"
