"""The settings file: defaults, validation naming the field, a save that loads back the same; the
options built from it; one policy for a bad file."""

from __future__ import annotations

import pytest

from tui.core.config import endpoints
from tui.core.config.context import AppContext
from tui.core.config.paths import app_paths
from tui.core.config.settings import (
    ChatSettings,
    Endpoint,
    Settings,
    SettingsError,
    load_settings,
    save_settings,
)
from tui.core.engine.base import chat_options


def test_a_missing_file_gives_the_defaults(tmp_path):
    assert load_settings(tmp_path / "settings.yaml") == Settings()


def test_values_the_file_sets_override_the_defaults(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("chat:\n  temperature: 1\n  context_policy: stop\nmodel_dirs: [~/models]\n")
    settings = load_settings(path)
    assert settings.chat.temperature == 1.0 and isinstance(settings.chat.temperature, float)
    assert settings.chat.context_policy == "stop"
    assert settings.chat.top_k == Settings().chat.top_k
    assert settings.model_dirs == ("~/models",)


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("chat: {temprature: 1}", "chat.temprature", "unknown setting"),
        ("downloads: {concurrency: two}", "downloads.concurrency", "expected int"),
        ("downloads: {concurrency: true}", "downloads.concurrency", "expected int"),
        ("endpoints: [{url: http://x}]", "endpoints[0].name", "missing"),
        ("model_dirs: ~/models", "model_dirs", "expected a list"),
        ("keymap: {app.help: [f1]}", "keymap", "mapping of strings"),
        ("chat: [1, 2]", "chat.", "expected a mapping"),
    ],
)
def test_a_wrong_setting_is_named(tmp_path, text, field, says):
    path = tmp_path / "settings.yaml"
    path.write_text(text + "\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert caught.value.field.startswith(field.rstrip("."))
    assert says in caught.value.message


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("chat:\n  temperature: [1\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert caught.value.field.startswith("line ")


def test_save_then_load_gives_the_same_settings(tmp_path):
    path = tmp_path / "config" / "settings.yaml"
    settings = Settings(
        model_dirs=("/data/models",),
        endpoints=(Endpoint("gpu-box", "http://127.0.0.1:8000/v1", api_key_env="GPU_KEY"),),
        keymap={"app.help": "f1"},
    )
    save_settings(settings, path)
    assert load_settings(path) == settings
    assert "GPU_KEY" in path.read_text() and "key:" not in path.read_text().replace("api_key_env", "")


def test_chat_options_come_from_the_chat_settings_with_overrides():
    chat = ChatSettings(threads=3, seed=-1, temperature=0.2, context_length=2048)
    load, sampling = chat_options(chat, temperature=None, max_tokens=7, context_length=1024)
    assert (load.n_ctx, load.n_threads, load.n_gpu_layers) == (1024, 3, 0)
    assert (sampling.temperature, sampling.max_tokens, sampling.seed) == (0.2, 7, None)
    load, sampling = chat_options(ChatSettings(threads=0, seed=5), template="chatml")
    assert (load.n_threads, sampling.seed) == (None, 5)  # 0 threads: llama.cpp's default


def test_a_bad_settings_file_stops_a_command_and_is_never_overwritten(capsys):
    from tui.cli import main

    paths = app_paths()
    paths.settings_file.parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text("chat:\n  temperature: hot\n")
    for argv in (["models"], ["endpoints", "list"], ["serve", "x.gguf"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("llmtui: error: ") and err.count("\n") == 1
        assert "chat.temperature" in err and "Traceback" not in err
    # The app goes on with the defaults and says why; nothing writes over the user's file.
    context = AppContext.load()
    assert context.settings == Settings() and isinstance(context.settings_error, SettingsError)
    with pytest.raises(SettingsError):
        endpoints.add_endpoint(context, Endpoint("lab", "http://lab:8080/v1"))
    assert paths.settings_file.read_text() == "chat:\n  temperature: hot\n"
