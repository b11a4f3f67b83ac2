"""The top-level `llmtui` parser: a plain start builds no sub-command parser, anything else gets
the full parser with unchanged help, messages and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui import __version__
from tui.cli import COMMAND_MODULES, main

ROOT = Path(__file__).resolve().parents[1]


def test_plain_start_imports_no_sub_command_module(tmp_path):
    """`llmtui --catalogue PATH` reaches run_app (here: a missing catalogue, exit 2) without them."""
    missing = tmp_path / "missing.yaml"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import json, sys
                import tui.cli
                status = tui.cli.main(["--catalogue", {str(missing)!r}])
                loaded = sorted(m for m in sys.modules if m.startswith("tui.cli."))
                print(json.dumps({{"status": status, "loaded": loaded}}))
                """
            ),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"status": 2, "loaded": []}
    assert "missing.yaml" in result.stderr


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in COMMAND_MODULES:
        assert name.replace("_", "-") in out  # the module quant_check is the command quant-check
    assert "--catalogue" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--catalogue", "x.yaml", "--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"llmtui {__version__}"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bogus"], "invalid choice: 'bogus'"),
        (["--catalogue"], "--catalogue: expected one argument"),
        (["--catalogue", "--version"], "--catalogue: expected one argument"),
        (["--catalogue", "x.yaml", "extra"], "invalid choice: 'extra'"),
    ],
)
def test_bad_top_level_input_exits_2_with_the_full_usage(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "COMMAND ..." in err  # the full parser's usage line, as before


def test_a_sub_command_still_parses(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--catalogue", "x.yaml", "chat", "--help"])
    assert exit_info.value.code == 0
    assert "usage: llmtui chat" in capsys.readouterr().out
