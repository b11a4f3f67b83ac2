"""Import hygiene, checked in fresh interpreters: the core never imports Textual, and starting the
app imports neither llama_cpp nor huggingface_hub's heavy parts (they load when first needed)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Loaded only when first needed: inference, the Hub client and HTTP stacks, model files, system
# probes, the stores, and every screen but the first (the download service starts 2 s after
# start-up, in a thread).
HEAVY = (
    "llama_cpp", "huggingface_hub", "openai", "httpx", "httpx2", "httpcore2", "psutil", "gguf",
    "numpy", "sqlite3", "tui.core.chat.store", "tui.core.compare.store", "tui.core.models.downloads",
    "tui.core.models.hub", "tui.ui.download", "tui.ui.chat", "tui.ui.compare",
    "tui.ui.leaderboards.screen",
)


def run_python(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_core_module_imports_without_textual():
    found = run_python(
        """
        import importlib, json, pkgutil, sys
        import tui.core
        names = [m.name for m in pkgutil.walk_packages(tui.core.__path__, "tui.core.")]
        for name in names:
            importlib.import_module(name)
        textual = sorted(m for m in sys.modules if m.split(".")[0] == "textual")
        print(json.dumps({"modules": names, "textual": textual}))
        """
    )
    assert {"tui.core.catalogue", "tui.core.catalogue.browse", "tui.core.text"} <= set(found["modules"])
    assert found["textual"] == []


def test_starting_the_app_imports_no_heavy_modules():
    """`llmtui`'s start path (tui.cli.main -> run_app -> LlmTui), headless, to its first frame."""
    found = run_python(
        """
        import json, sys
        from textual.app import App
        import tui.cli

        painted = []
        run = App.run

        def headless_run(self, *args, **kwargs):
            async def first_frame(pilot):
                await pilot.pause()
                painted.append(type(pilot.app.screen).__name__)
                pilot.app.exit()

            return run(self, headless=True, size=(120, 40), auto_pilot=first_frame)

        App.run = headless_run
        code = tui.cli.main([])
        loaded = sorted(m for m in sys.modules if m.startswith(HEAVY))
        print(json.dumps({"code": code, "painted": painted, "loaded": loaded}))
        """.replace("HEAVY", repr(HEAVY))
    )
    assert (found["code"], found["painted"]) == (0, ["BrowseScreen"])
    assert found["loaded"] == []
