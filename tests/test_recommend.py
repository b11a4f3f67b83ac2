"""Fits here: the best quant of each model for a machine, its speed (calibrated from answers
measured here), and `llmtui recommend`."""

from __future__ import annotations

import json
import os

import pytest

from tests.test_cli_download import run
from tui.core.config.settings import Settings
from tui.core.models import fit, recommend
from tui.core.models.hub import GgufPart, QuantFile, RepoFiles

GiB = fit.GiB
N_CTX = Settings().downloads.context_length  # what the CLI sizes the KV cache for
SMALL = fit.Machine(ram_total=16 * GiB, ram_available=8 * GiB)


def test_the_best_quant_that_fits_is_estimated_from_the_parameter_count():
    found = recommend.model_fit("m/7b", None, 7, SMALL, 4096, recommend.Calibration())
    assert found.word == "yes" and not found.size_exact
    # 7e9 weights at the quant's nominal bits; the one picked fits with the margin, a bigger one not.
    assert found.size == int(7e9 * recommend.BITS_PER_WEIGHT[found.quant] / 8)
    assert found.fit.fits and found.fit.headroom >= 0
    bigger = [q for q in recommend.ESTIMATED_QUANTS
              if recommend.BITS_PER_WEIGHT[q] > recommend.BITS_PER_WEIGHT[found.quant]]  # fmt: skip
    assert bigger and all(
        not fit.estimate(int(7e9 * recommend.BITS_PER_WEIGHT[q] / 8), 4096, SMALL).fits
        for q in bigger
    )
    assert found.cell.startswith(f"{found.quant} ~") and found.cell.endswith("tok/s estimate")

    none = recommend.model_fit("m/70b", None, 70, SMALL, 4096, recommend.Calibration())
    assert none.word == "no" and none.cell.startswith("no: needs ")
    unknown = recommend.model_fit("m/x", None, None, SMALL, 4096, recommend.Calibration())
    assert unknown.word == "unknown" and unknown.cell == ""


def test_a_listing_seen_gives_exact_sizes(tmp_path):
    listed = RepoFiles("o/r-GGUF", None, False, (
        QuantFile("o/r-GGUF", "r.Q4_K_M.gguf", (GgufPart("r.Q4_K_M.gguf", 4_100_000_123, None),),
                  "Q4_K_M"),
        QuantFile("o/r-GGUF", "r.Q8_0.gguf", (GgufPart("r.Q8_0.gguf", 7_700_000_456, None),),
                  "Q8_0"),
    ))  # fmt: skip
    recommend.ListingCache(tmp_path).remember(listed)
    files = recommend.ListingCache(tmp_path).files("o/r-GGUF")  # a new reader: from the file
    found = recommend.model_fit("o/r", files, 7, SMALL, 4096, recommend.Calibration())
    assert found.size_exact and found.file.name == "r.Q4_K_M.gguf"
    assert found.size == 4_100_000_123
    assert "~" not in found.cell


def test_measured_answers_calibrate_the_speed(tmp_path):
    model = tmp_path / "m.gguf"
    with model.open("wb") as f:
        f.truncate(2 * 10**9)  # sparse: a 2 GB file without 2 GB of disk
    nominal = recommend.nominal_speed(2 * 10**9, "RAM")
    calibration = recommend.calibrate(
        [(str(model), nominal * 0.5), (str(model), nominal * 0.7), (str(tmp_path / "gone"), 99.0)],
        SMALL, 4096,
    )  # fmt: skip
    assert calibration.files == 1 and calibration.factor == pytest.approx(0.6)
    before = recommend.model_fit("m/7b", None, 7, SMALL, 4096, recommend.Calibration())
    after = recommend.model_fit("m/7b", None, 7, SMALL, 4096, calibration)
    assert before.speed.label.endswith("estimate") and not after.speed.label.endswith("estimate")
    assert after.speed.tokens_per_second == pytest.approx(before.speed.tokens_per_second * 0.6)


def test_speeds_come_from_the_chat_and_comparison_stores(tmp_path):
    from tui.core.chat.store import ConversationStore
    from tui.core.engine.base import AnswerStats

    database = tmp_path / "db.sqlite3"
    assert recommend.measured_speeds(database) == [] and not database.exists()
    store = ConversationStore(database)
    conversation = store.create("/models/a.gguf", "a")
    stats = AnswerStats(completion_tokens=11, generation_seconds=2.0)
    store.add_message(conversation.id, "assistant", "hi", stats=stats.to_dict())
    store.add_message(conversation.id, "assistant", "no stats")
    store.close()
    assert recommend.measured_speeds(database) == [("/models/a.gguf", 5.0)]


def cli(*args, free_gib: float):
    """`llmtui recommend` on a machine with this much memory available (no GPU)."""
    env = {"LLMTUI_TEST_MEMORY": str(int(free_gib * GiB))}
    return run("recommend", *args, env=env)


@pytest.fixture
def pinned_machine(tmp_path):
    """A sitecustomize that gives the child process a machine of LLMTUI_TEST_MEMORY bytes."""
    (tmp_path / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('LLMTUI_TEST_MEMORY'):\n"
        "    from tui.core.models import fit\n"
        "    free = int(os.environ['LLMTUI_TEST_MEMORY'])\n"
        "    fit.machine = lambda: fit.Machine(2 * free, free)\n"
    )
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = path
    yield
    os.environ["PYTHONPATH"] = path.split(os.pathsep, 1)[1]


def test_recommend_json_is_ordered_by_the_metric_and_keeps_what_fits(pinned_machine, catalogue):
    code, out, err = cli("--json", "--metric", "open_llm.mmlu", free_gib=12)
    assert code == 0, err
    listed = json.loads(out)
    board = catalogue.leaderboard("open_llm")
    scores = [row["score"] for row in listed]
    assert scores == sorted(scores, reverse=True) and listed
    assert all(row["fits"] == "yes" and row["headroom"] >= 0 for row in listed)
    # Every model ranked above the last one listed and left out does not fit.
    shown = {row["model"] for row in listed}
    for rank, row in board.ranked("mmlu"):
        if row.model not in shown and rank < listed[-1]["rank"]:
            model = catalogue.model(row.model)
            here = fit.Machine(24 * GiB, 12 * GiB)
            assert recommend.model_fit(model.id, None, model.params_b, here, N_CTX,
                                       recommend.Calibration()).word != "yes"  # fmt: skip
    # More memory: at least as many, and a bigger quant for a model in both.
    code, out, _ = cli("--json", "--metric", "open_llm.mmlu", free_gib=64)
    roomy = json.loads(out)
    assert len(roomy) > len(listed)
    both = [(r, next(s for s in roomy if s["model"] == r["model"])) for r in listed]
    assert all(big["size"] >= small["size"] for small, big in both)
    assert any(big["size"] > small["size"] for small, big in both)
    code, out, _ = cli("--json", "--limit", "2", free_gib=64)
    assert [r["model"] for r in json.loads(out)] == [r["model"] for r in
                                                      json.loads(cli("--json", free_gib=64)[1])][:2]


@pytest.mark.parametrize(("args", "named"), [
    (("--group", "nope"), "slm, llm, code, embedding"),
    (("--metric", "[bold]x"), "open_llm.average"),
    (("--metric", "opencompass.mmlu"), "opencompass.code"),
])  # fmt: skip
def test_recommend_bad_group_or_metric_exits_2_naming_the_choices(args, named):
    code, out, err = run("recommend", *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0]


def test_recommend_prints_one_line_per_model_with_quant_size_headroom_and_speed(pinned_machine):
    code, out, err = cli("--limit", "2", free_gib=64)
    assert code == 0, err
    listed = json.loads(cli("--json", free_gib=64)[1])
    header, *rows = out.strip().splitlines()
    assert f"{len(listed)} of " in header and "the first 2" in header
    assert len(rows) == 2
    for line, row in zip(rows, listed, strict=False):
        assert row["name"] in line and row["quant"] in line
        assert "to spare" in line and line.endswith("tok/s estimate")
