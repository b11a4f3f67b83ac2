"""Import hygiene, checked in fresh interpreters: the core never imports Textual, and starting the
app imports neither llama_cpp nor huggingface_hub's heavy parts (they load when first needed)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("llama_cpp", "huggingface_hub.hf_api", "huggingface_hub.file_download")


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
    assert {"tui.core.catalogue", "tui.core.browse", "tui.core.text"} <= set(found["modules"])
    assert found["textual"] == []


def test_starting_the_app_imports_no_heavy_modules():
    found = run_python(
        """
        import json, sys
        from tui.cli import build_parser, load_catalogue
        from tui.ui.app import LlmTui

        args = build_parser().parse_args([])
        app = LlmTui(load_catalogue(args))
        painted = []

        async def first_paint(pilot):
            await pilot.pause()
            painted.append(type(pilot.app.screen).__name__)
            pilot.app.exit()

        app.run(headless=True, size=(120, 40), auto_pilot=first_paint)
        loaded = [m for m in sys.modules if m.startswith(HEAVY)]
        print(json.dumps({"painted": painted, "loaded": loaded}))
        """.replace("HEAVY", repr(HEAVY))
    )
    assert found["painted"] == ["BrowseScreen"]
    assert found["loaded"] == []
