"""Shared fixtures: every test runs with its own config, data, cache and Hugging Face folders."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOLLM2 = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory, monkeypatch):
    """User folders in a temporary place, so tests never read or write the real ones."""
    base = tmp_path_factory.mktemp("home")
    for var, sub in {
        "LLMTUI_CONFIG_DIR": "config",
        "LLMTUI_DATA_DIR": "data",
        "LLMTUI_CACHE_DIR": "cache",
        "HF_HOME": "hf",
    }.items():
        monkeypatch.setenv(var, str(base / sub))
    monkeypatch.setenv("HF_HUB_CACHE", str(base / "hf" / "hub"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return base


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """SmolLM2-135M-Instruct Q4_1, a real chat model (fetched by `make models`)."""
    if not SMOLLM2.exists():
        pytest.fail(f"{SMOLLM2.relative_to(ROOT)} is missing: run `make models` (or `make test`)")
    return SMOLLM2


@pytest.fixture
def tiny_gguf(tmp_path):
    """Factory: tiny_gguf(["Hello", ", ", "world"]) -> path of a model that answers exactly that."""
    from tests.tiny_gguf import write_tiny_gguf

    def make(script, name="tiny.gguf", **kwargs):
        return write_tiny_gguf(tmp_path / name, script, **kwargs)

    return make
