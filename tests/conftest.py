"""Shared fixtures: every test runs with its own config, data, cache and Hugging Face folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOLLM2 = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
# Hostile pieces too: markup, an escape sequence, CJK, emoji. The tiny model the
# `llama_server` fixture serves answers exactly these pieces, each one token.
TINY = ["Hello", ", ", "remote", " [bold]", "[/]", " \x1b[2J", " 日本語", " 🙂", "!"]


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
def catalogue():
    """The bundled catalogue (read-only, so one for the whole run)."""
    from tui.core.catalogue import load_catalogue

    return load_catalogue()


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


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """llama-cpp-python's server on loopback: the tiny model ("tiny") and SmolLM2 ("smollm2")."""
    from tests.faultserver import free_port, wait_until_serving
    from tests.tiny_gguf import write_tiny_gguf

    if not SMOLLM2.exists():
        pytest.fail("the SmolLM2 test model is missing: run `make models`")
    folder = tmp_path_factory.mktemp("llama-server")
    tiny = write_tiny_gguf(folder / "tiny.gguf", TINY)
    port = free_port()
    config = {
        "host": "127.0.0.1",
        "port": port,
        "models": [
            {"model": str(tiny), "model_alias": "tiny", "n_ctx": 512, "verbose": False},
            {"model": str(SMOLLM2), "model_alias": "smollm2", "n_ctx": 2048, "n_threads": 1,
             "verbose": False},
        ],
    }  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--config_file", str(folder / "config.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture
def fake_backends(monkeypatch):
    """Scripted backends (tests/fakebackend.py) for specs: `fake_backends["m"] = FakeBackend(...)`,
    then opening the model "m" (chat, `ChatSession.load`) gets it; other specs open as usual."""
    from tui.core.engine import resolve

    backends: dict = {}
    real = resolve.open_backend

    def open_backend(spec, context, **options):
        return backends[spec] if spec in backends else real(spec, context, **options)

    monkeypatch.setattr(resolve, "open_backend", open_backend)
    return backends


@pytest.fixture
def fixed_machine(monkeypatch):
    """This machine's memory as the snapshots assume it (16 GiB, 9 free), for the quant picker and
    the model table's Fits here column."""
    from tui.core.models import fit

    monkeypatch.setattr(fit, "machine", lambda: fit.Machine(16 * fit.GiB, 9 * fit.GiB))


@pytest.fixture
def context():
    """The app context, on the test's own folders."""
    from tui.core.config.context import AppContext

    return AppContext.load()


@pytest.fixture
def store(context):
    """The conversation store of `context` (test_store and test_ranking have stores of their own)."""
    from tui.core.chat.store import ConversationStore

    store = ConversationStore(context.paths.database)
    yield store
    store.close()
