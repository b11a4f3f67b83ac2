"""The settings file: defaults, validation naming the field, and a save that loads back the same."""

from __future__ import annotations

import pytest

from tui.core.config.settings import Endpoint, Settings, SettingsError, load_settings, save_settings


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
