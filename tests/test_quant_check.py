"""`llmtui quant-check`: real llama.cpp runs of SmolLM2 against itself and a coarser quant of it;
the kept result in My models and the quant picker (against the loopback Hub)."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fakehub import fake_hub  # noqa: F401
from tests.test_ui_download import REPO, cells, wait_until
from tui.cli import main
from tui.core.config.paths import app_paths
from tui.core.engine.quant_check import DEFAULT_TEXT, QuantCheckStore, default_text

CTX = 32  # 4 chunks of the short text below: the run stays short


@pytest.fixture(scope="session")
def q4_0(smollm2, tmp_path_factory) -> Path:
    """SmolLM2 requantized from Q4_1 to Q4_0 by llama.cpp's quantize, through llama-cpp-python."""
    import llama_cpp

    out = tmp_path_factory.mktemp("quant") / "SmolLM2-135M-Instruct.Q4_0.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.allow_requantize = True
    params.nthread = 2
    assert llama_cpp.llama_model_quantize(str(smollm2).encode(), str(out).encode(), params) == 0
    return out


@pytest.fixture
def text(tmp_path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text(default_text()[:700], encoding="utf-8")  # about 150 tokens
    return path


def check(capsys, model, reference, text, *extra) -> tuple[int, str, str]:
    code = main(["quant-check", str(model), "--reference", str(reference), "--text", str(text),
                 "--ctx", str(CTX), *extra])  # fmt: skip
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.inference
def test_a_file_against_itself_has_no_divergence(capsys, smollm2, text):
    code, out, err = check(capsys, smollm2, smollm2, text, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["chunks"] == result["tokens"] // CTX >= 2
    assert result["scored"] == result["chunks"] * (CTX - 1 - CTX // 2)
    assert abs(result["kl_mean"]) < 1e-6 and abs(result["kl_p99"]) < 1e-6
    assert abs(result["kl_median"]) < 1e-6 and abs(result["kl_max"]) < 1e-6
    assert result["top1_agreement"] == 1.0
    assert result["ppl_model"] == pytest.approx(result["ppl_reference"], rel=1e-9)
    assert result["ppl_model"] > 1
    assert result["model"] == result["reference"] == str(smollm2)
    assert result["text"] == "text.txt" and len(result["text_sha256"]) == 64
    assert f"chunk {result['chunks']}/{result['chunks']}" in err  # progress on stderr
    # Checked against itself: kept, but not shown beside the file (it says nothing).
    assert QuantCheckStore(app_paths().data_dir).for_file(smollm2) is None


@pytest.mark.inference
def test_a_coarser_quant_diverges_and_the_result_is_kept(capsys, smollm2, q4_0, text):
    code, out, err = check(capsys, q4_0, smollm2, text)
    assert code == 0, err
    kept = QuantCheckStore(app_paths().data_dir).for_file(q4_0)
    assert kept is not None and kept.reference == str(smollm2)
    assert kept.kl_mean > 0 and kept.kl_max >= kept.kl_p99 >= kept.kl_median >= 0
    assert 0 < kept.top1_agreement <= 1
    assert kept.ppl_model != kept.ppl_reference
    assert f"mean {kept.kl_mean:.6f}" in out
    assert f"top-1 agreement {100 * kept.top1_agreement:.2f}%" in out
    assert QuantCheckStore(app_paths().data_dir).for_file(smollm2) is None  # it was the reference
    expected = direct_check(q4_0, smollm2, text.read_text(encoding="utf-8"))
    assert kept.kl_mean == pytest.approx(expected["kl_mean"], rel=1e-3)
    assert kept.top1_agreement == pytest.approx(expected["top1_agreement"], abs=1 / kept.scored)
    assert kept.ppl_model == pytest.approx(expected["ppl_model"], rel=1e-4)
    assert kept.ppl_reference == pytest.approx(expected["ppl_reference"], rel=1e-4)
    q4_0.touch()  # rewritten: the old result is not this file's any more
    assert QuantCheckStore(app_paths().data_dir).for_file(q4_0) is None


def direct_check(model: Path, reference: Path, text: str) -> dict:
    """The same figures another way: llama-cpp-python's high-level eval with every logit kept,
    scored as llama.cpp's perplexity tool scores (the second half of each chunk)."""
    import llama_cpp
    import numpy as np

    def log_probs(path):
        llm = llama_cpp.Llama(str(path), n_ctx=CTX, n_batch=CTX, logits_all=True, verbose=False)
        tokens = llm.tokenize(text.encode("utf-8"))  # this vocabulary adds no BOS
        rows, targets = [], []
        for i in range(len(tokens) // CTX):
            llm.reset()
            llm.eval(tokens[i * CTX : (i + 1) * CTX])
            rows.append(np.array(llm.scores[CTX // 2 : CTX - 1], dtype=np.float64))
            targets += tokens[i * CTX + CTX // 2 + 1 : (i + 1) * CTX]
        llm.close()
        logits = np.concatenate(rows)
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)), np.array(targets)

    mine, targets = log_probs(model)
    theirs, _ = log_probs(reference)
    at = np.arange(len(targets))
    return {
        "kl_mean": float((np.exp(theirs) * (theirs - mine)).sum(axis=1).mean()),
        "top1_agreement": float((mine.argmax(axis=1) == theirs.argmax(axis=1)).mean()),
        "ppl_model": float(np.exp(-mine[at, targets].mean())),
        "ppl_reference": float(np.exp(-theirs[at, targets].mean())),
    }


def test_another_vocabulary_is_refused_in_one_line(capsys, smollm2, tiny_gguf, text):
    tiny = tiny_gguf(["Hello", " [bold", "[/]", "\x1b[2J"], name="other-[bold.gguf")
    code, out, err = check(capsys, tiny, smollm2, text)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "vocabulary" in err and "\x1b" not in err
    assert "other-[bold.gguf" in err


def test_another_tokenization_of_the_text_is_refused(capsys, tiny_gguf, tmp_path):
    # The same number of tokens, but one vocabulary has "Hello" as a token and the other not.
    first = tiny_gguf(["Hello", "!"], name="first.gguf")
    second = tiny_gguf(["Bye", "?"], name="second.gguf")
    text = tmp_path / "hello.txt"
    text.write_text("Hello world " * 40, encoding="utf-8")
    code, out, err = check(capsys, first, second, text)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "tokenize the text differently" in err


def test_a_missing_file_is_exit_2(capsys, smollm2, tmp_path, text):
    missing = tmp_path / "nowhere.gguf"
    code, out, err = check(capsys, missing, smollm2, text)
    assert (code, out) == (2, "") and err.count("\n") == 1 and "no such file" in err
    code, out, err = check(capsys, smollm2, smollm2, tmp_path / "no-text.txt")
    assert (code, out) == (2, "") and "no such file" in err


def test_a_text_too_short_for_the_context_is_exit_2(capsys, smollm2, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("Only a few words here.", encoding="utf-8")
    code, out, err = check(capsys, smollm2, smollm2, short)
    assert code == 2 and err.count("\n") == 1 and f"at least {2 * CTX}" in err


def test_the_default_text_ships_in_the_package():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        pytest.skip("tomllib needs Python 3.11")
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert DEFAULT_TEXT in package_data["package-data"]["tui.core.engine"]
    assert (ROOT / "tui" / "core" / "engine" / DEFAULT_TEXT).is_file()
    assert len(default_text().split()) > 1500  # several chunks of the default context


def cache_file(repo_id: str, name: str, source: Path) -> Path:
    """`source` as a file of `repo_id` in the Hugging Face cache (the layout huggingface-hub
    writes: a blob, and a snapshot link to it)."""
    import os

    from tui.core.models import hub

    repo = hub.cache_dir() / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "0123abcd").write_bytes(source.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("f" * 40)
    snapshot = repo / "snapshots" / ("f" * 40)
    snapshot.mkdir(parents=True)
    os.symlink("../../blobs/0123abcd", snapshot / name)
    return snapshot / name


async def test_my_models_and_the_quant_picker_show_a_kept_result(fake_hub, tiny_gguf):
    from textual.widgets import DataTable

    from tui.core.catalogue import default_catalogue_path, load_catalogue
    from tui.core.engine.quant_check import QuantCheckResult
    from tui.ui.app import LlmTui
    from tui.ui.download.screen import ModelsScreen, QuantPicker

    tiny = tiny_gguf(["x"], name="t.gguf")
    here = cache_file(REPO, "phi-2.Q4_0.gguf", tiny)
    reference = tiny_gguf(["y"], name="ref.gguf")
    result = QuantCheckResult(
        model=str(here), reference=str(reference), n_ctx=32, chunks=2, tokens=64, scored=30,
        kl_mean=0.0421, kl_median=0.01, kl_p99=0.3, kl_max=0.5, top1_agreement=0.9, ppl_model=12.0,
        ppl_reference=11.0, text="default", text_sha256="0" * 64, seconds=1.0,
        llama_cpp_version="x", checked_at=1.0,
    )  # fmt: skip
    QuantCheckStore(app_paths().data_dir).save(result)
    fake_hub.add_repo(REPO, {"phi-2.Q4_0.gguf": tiny, "phi-2.Q8_0.gguf": reference})
    app = LlmTui(load_catalogue(default_catalogue_path()))
    async with app.run_test(size=(160, 45)) as pilot:
        app.open_job("models", "microsoft/phi-2")
        await pilot.pause()
        assert isinstance(app.screen, QuantPicker)
        files = app.screen.query_one("#files", DataTable)
        await wait_until(pilot, lambda: files.row_count == 2)
        names = {row[1]: row[5] for row in cells(files)}
        assert names["Q4_0"] == f"phi-2.Q4_0.gguf  [{result.summary}]"
        assert names["Q8_0"] == "phi-2.Q8_0.gguf"  # not on this machine: no result
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)
        library = app.screen.query_one("#library", DataTable)
        await wait_until(pilot, lambda: library.row_count == 1)
        assert cells(library)[0][2] == f"Q4_0  {result.summary}"


@pytest.mark.inference
def test_ctrl_c_ends_cleanly_with_130(smollm2, tmp_path):
    import os
    import signal
    import subprocess

    temp = tmp_path / "temp"
    temp.mkdir()
    text = tmp_path / "long.txt"
    text.write_text(default_text(), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "quant-check", str(smollm2), "--reference", str(smollm2),
         "--text", str(text), "--ctx", str(CTX)],  # fmt: skip
        cwd=ROOT, env={**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "reference: chunk 1/" in process.stderr.readline()  # it is evaluating
        assert list(temp.iterdir())  # the memmap and the child's log are there meanwhile
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130 and out == ""
    assert list(temp.iterdir()) == []  # nothing left behind


def test_the_statistics_agree_with_numpy():
    import numpy as np

    from tui.core.engine.quant_check import summarize

    rng = np.random.default_rng(7)
    kl = rng.exponential(0.05, size=301).tolist()
    nll, nll_base = rng.uniform(0, 6, size=301).tolist(), rng.uniform(0, 6, size=301).tolist()
    got = summarize(kl, 250, nll, nll_base)
    assert got["kl_mean"] == pytest.approx(np.mean(kl))
    assert got["kl_median"] == pytest.approx(np.median(kl))
    assert got["kl_p99"] == pytest.approx(np.percentile(kl, 99))  # numpy's "linear", as llama.cpp's
    assert got["kl_max"] == max(kl) and got["top1_agreement"] == 250 / 301
    assert got["ppl_model"] == pytest.approx(np.exp(np.mean(nll)))
    assert got["ppl_reference"] == pytest.approx(np.exp(np.mean(nll_base)))
