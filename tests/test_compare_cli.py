"""`llmtui compare`: headless comparisons, and one clear line (exit 2) for bad input."""

from __future__ import annotations

import json

import pytest

from tui.cli import main
from tui.core.models.fit import Machine


def test_fewer_than_two_models(tiny_gguf, capsys):
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    assert main(["compare", str(alpha), "--prompt", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 to 4 models, got 1" in err


def test_unreadable_model(tiny_gguf, tmp_path, capsys):
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all, just text" * 10)
    assert main(["compare", str(alpha), str(junk), "--prompt", "hi"]) == 2
    assert "not a GGUF file" in capsys.readouterr().err
    assert main(["compare", str(alpha), str(tmp_path / "missing.gguf"), "--prompt", "hi"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_prompt_set_syntax_error_names_file_and_line(tiny_gguf, tmp_path, capsys):
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    beta = tiny_gguf(["Beta"], name="beta.gguf")
    bad = tmp_path / "set.yaml"
    bad.write_text("prompts:\n  - prompt: fine\n  - prompt: 'unclosed\n")
    assert main(["compare", str(alpha), str(beta), "--prompts", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{bad}:" in err and "not valid YAML" in err and "\n" not in err


def test_a_model_that_would_not_fit(tiny_gguf, monkeypatch, capsys):
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    beta = tiny_gguf(["Beta"], name="beta.gguf")
    small = Machine(ram_total=1 << 20, ram_available=1 << 20)
    monkeypatch.setattr("tui.core.models.fit.machine", lambda: small)
    assert main(["compare", str(alpha), str(beta), "--prompt", "hi"]) == 2
    assert "would not fit in memory" in capsys.readouterr().err


@pytest.mark.inference
def test_side_by_side_output(tiny_gguf, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    alpha = tiny_gguf(["Alpha", " one"], name="alpha.gguf")
    beta = tiny_gguf(["Beta", " two", "[bold]"], name="beta.gguf")
    assert main(["compare", str(alpha), str(beta), "--prompt", "hi", "--sequential"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    # Both answers on the same line: columns, not one after the other.
    row = next(line for line in lines if "Alpha one" in line)
    assert "Beta two[bold]" in row and row.index("Alpha one") < row.index("Beta two[bold]")
    assert "saved as comparison #1" in out


@pytest.mark.inference
def test_json_output_and_prompt_set_rerun_diff(tiny_gguf, tmp_path, capsys):
    alpha = tiny_gguf(["Alpha", " one"], name="alpha.gguf")
    beta = tiny_gguf(["Beta", " two"], name="beta.gguf")
    prompts = tmp_path / "set.jsonl"
    prompts.write_text(
        '{"id": "a", "prompt": "x", "expect": ["Alpha"]}\n{"id": "b", "prompt": "y"}\n'
    )
    args = ["compare", str(alpha), str(beta), "--prompts", str(prompts), "--json", "--seed", "5"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    grid = {(c["row"], c["column"]): (c["answer"], c["passed"]) for c in first["cells"]}
    assert grid == {
        (0, 0): ("Alpha one", True),
        (0, 1): ("Beta two", False),
        (1, 0): ("Alpha one", None),
        (1, 1): ("Beta two", None),
    }
    assert first["config"]["sampling"]["seed"] == 5 and first["changes"] == []
    # The same set again after beta changed: the diff says what changed.
    tiny_gguf(["Alpha", " two"], name="beta.gguf")
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    kinds = {(c["prompt_id"], c["kind"]) for c in second["changes"]}
    assert kinds == {("a", "fail->pass"), ("b", "answer changed")}
