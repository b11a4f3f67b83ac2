"""`llmtui chat CATALOGUE_ID` on a model that is not on this machine: it asks on the terminal before
downloading the recommended file, `--yes` downloads without asking, and where nobody can be asked it
is one line and exit status 2 (against the loopback Hub)."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakehub import fake_hub, sha256_of  # noqa: F401
from tui.cli import main

MODEL = "microsoft/phi-2"
REPO = "TheBloke/phi-2-GGUF"  # the catalogue maps microsoft/phi-2 here
ROOT = Path(__file__).resolve().parents[1]


class Terminal(io.StringIO):
    """A stdin that is a terminal, with what the user types."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def hub(fake_hub, tiny_gguf):
    fake_hub.add_repo(REPO, {
        "phi-2.Q2_K.gguf": tiny_gguf(["small"], name="a.gguf"),
        "phi-2.Q4_K_M.gguf": tiny_gguf(["recommended"], name="b.gguf"),
    })  # fmt: skip
    return fake_hub


def cached(isolated_dirs) -> list[str]:
    return sorted(p.name for p in (isolated_dirs / "hf" / "hub").rglob("*.gguf"))


def test_yes_on_the_terminal_downloads_the_recommended_file_then_answers(
    hub, isolated_dirs, monkeypatch, capsys
):
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert main(["chat", MODEL, "--prompt", "hi"]) == 0
    out, err = capsys.readouterr()
    assert out == "recommended\n"  # stdout holds the answer alone
    assert f"{MODEL} is not downloaded" in err
    assert "Download phi-2.Q4_K_M.gguf (" in err and "? [Y/n]" in err
    assert cached(isolated_dirs) == ["phi-2.Q4_K_M.gguf"]
    # Now it is here: no question the second time.
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    assert main(["chat", MODEL, "--prompt", "hi"]) == 0
    out, err = capsys.readouterr()
    assert out == "recommended\n" and "[Y/n]" not in err


@pytest.mark.parametrize("typed", ["n\n", ""])  # "no", and the end of input (ctrl+d)
def test_no_downloads_nothing_and_exits_2(hub, isolated_dirs, monkeypatch, capsys, typed):
    monkeypatch.setattr(sys, "stdin", Terminal(typed))
    assert main(["chat", MODEL, "--prompt", "hi"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.endswith("llmtui: error: nothing downloaded\n")
    # Only the smallest file's header was read (to size the fit), nothing was downloaded.
    assert cached(isolated_dirs) == [] and "phi-2.Q4_K_M.gguf" not in hub.served


def test_yes_flag_downloads_without_asking(hub, isolated_dirs, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal
    assert main(["chat", MODEL, "--prompt", "hi", "--yes"]) == 0
    out, err = capsys.readouterr()
    assert out == "recommended\n" and "[Y/n]" not in err
    assert cached(isolated_dirs) == ["phi-2.Q4_K_M.gguf"]


def test_a_quant_in_the_spec_downloads_that_file(hub, isolated_dirs, capsys):
    assert main(["chat", f"{MODEL}:Q2_K", "--prompt", "hi", "--yes"]) == 0
    assert capsys.readouterr().out == "small\n"
    assert cached(isolated_dirs) == ["phi-2.Q2_K.gguf"]


def test_where_nobody_can_be_asked_it_is_one_line_and_exit_2(hub, isolated_dirs):
    """A real process whose stdin is not a terminal; nothing is asked of the Hub."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in (["chat", MODEL, "--prompt", "hi"], ["chat", MODEL]):
        done = subprocess.run([sys.executable, "-m", "tui", *command], cwd=ROOT, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"llmtui: error: {MODEL} is not downloaded (looked in")
        assert done.stderr.endswith("; pass --yes to download it first\n")
    assert cached(isolated_dirs) == [] and hub.served == {}
