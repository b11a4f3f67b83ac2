"""Comparisons through real llama-cpp-python workers (LocalBackend): tiny deterministic GGUFs whose
answers are known exactly, and SmolLM2 for one real-inference comparison."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest

from tui.core.compare.comparison import (
    CellChanged,
    ColumnChanged,
    CompareConfig,
    CompareError,
    Comparison,
    ModelChoice,
    TextAdded,
    make_plan,
    parse_overrides,
)
from tui.core.compare.diff import diff
from tui.core.compare.prompt_sets import Prompt
from tui.core.compare.store import CompareStore
from tui.core.config.context import AppContext
from tui.core.engine.base import LoadOptions, SamplingOptions
from tui.core.models.fit import Machine

ALPHA = ["Alpha", " one"]
BETA = ["Beta", " two", "[bold]"]
SHORT = SamplingOptions(max_tokens=64, temperature=0.0, seed=7)
SMALL_CTX = LoadOptions(n_ctx=512)
PLENTY = Machine(ram_total=64 << 30, ram_available=32 << 30)


ONE_PROMPT = (Prompt("Say something", id="p1"),)


def config(*paths, prompts=ONE_PROMPT, **kw) -> CompareConfig:
    kw.setdefault("sampling", SHORT)
    kw.setdefault("load", SMALL_CTX)
    return CompareConfig(tuple(ModelChoice(str(p)) for p in paths), tuple(prompts), **kw)


def run(cfg: CompareConfig, **kw):
    events = []
    kw.setdefault("plan", make_plan([m.spec for m in cfg.models], cfg.mode, n_ctx=512, here=PLENTY))
    comparison = Comparison(cfg, context=AppContext.load(), on_event=events.append, **kw)
    return comparison.run(), events


def streamed_text(events, column: int) -> str:
    return "".join(e.text for e in events if isinstance(e, TextAdded) and e.column == column)


@pytest.mark.inference
@pytest.mark.parametrize("mode", ["parallel", "sequential"])
def test_two_models_give_their_own_answers_in_their_columns(tiny_gguf, mode):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    beta = tiny_gguf(BETA, name="beta.gguf")
    result, events = run(config(alpha, beta, mode=mode))
    assert result.mode == mode
    assert [c.state for c in result.columns] == ["done", "done"]
    assert [result.cell(0, i).answer for i in (0, 1)] == ["Alpha one", "Beta two[bold]"]
    # The stream each column received is its own model's, token by token.
    assert streamed_text(events, 0) == "Alpha one"
    assert streamed_text(events, 1) == "Beta two[bold]"
    stats = result.cell(0, 1).stats
    assert stats.completion_tokens == 3 and stats.time_to_first_token is not None
    assert all(c.load_seconds and c.load_seconds > 0 for c in result.columns)
    assert result.llama_cpp_version


@pytest.mark.inference
def test_sequential_mode_loads_the_next_model_only_after_the_previous_one_ends(tiny_gguf):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    beta = tiny_gguf(BETA, name="beta.gguf")
    _, events = run(config(alpha, beta, mode="sequential"))
    states = [(e.column.index, e.column.state) for e in events if isinstance(e, ColumnChanged)]
    assert states == [
        (0, "loading"), (0, "generating"), (0, "done"),
        (1, "loading"), (1, "generating"), (1, "done"),
    ]  # fmt: skip


@pytest.mark.inference
def test_parallel_mode_splits_the_cores_between_the_models(tiny_gguf):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    beta = tiny_gguf(BETA, name="beta.gguf")
    cfg = config(alpha, beta)
    plan = make_plan([m.spec for m in cfg.models], n_ctx=512, here=PLENTY, cores=4)
    assert (plan.mode, plan.threads) == ("parallel", 2)
    result, _ = run(cfg, plan=plan)
    # What the llama.cpp workers report they ran with.
    assert [c.threads for c in result.columns] == [2, 2]


def test_the_plan_goes_sequential_when_the_models_do_not_fit_together(tiny_gguf):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    beta = tiny_gguf(BETA, name="beta.gguf")
    specs = [str(alpha), str(beta)]
    one = make_plan(specs, n_ctx=512, here=PLENTY, cores=2).needs[0]
    assert one > alpha.stat().st_size  # weights + KV cache + buffers
    # Room for one at a time, not for both.
    tight = Machine(ram_total=1 << 40, ram_available=int(one * 1.5))
    assert make_plan(specs, n_ctx=512, here=tight, cores=2).mode == "sequential"
    # Not enough cores for one each.
    assert make_plan(specs, n_ctx=512, here=PLENTY, cores=1).mode == "sequential"
    # The user can force either.
    assert make_plan(specs, "parallel", n_ctx=512, here=tight, cores=1).mode == "parallel"
    assert make_plan(specs, "sequential", n_ctx=512, here=PLENTY, cores=2).mode == "sequential"
    # The user's threads setting caps each model's share of the cores, in either mode.
    assert make_plan(specs, n_ctx=512, here=PLENTY, cores=4).threads == 2
    assert make_plan(specs, n_ctx=512, here=PLENTY, cores=4, max_threads=1).threads == 1
    assert make_plan(specs, "sequential", n_ctx=512, here=PLENTY, max_threads=3).threads == 3
    # A model bigger than the whole memory is flagged before anything loads.
    tiny = Machine(ram_total=one // 2, ram_available=one // 4)
    assert make_plan(specs, n_ctx=512, here=tiny, cores=2).too_large == (0, 1)


@pytest.mark.inference
def test_a_model_too_large_fails_only_its_column(tiny_gguf):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    big = tiny_gguf(BETA, name="big.gguf", layers=8, width=512)
    cfg = config(alpha, big)
    specs = [str(alpha), str(big)]
    small, large = make_plan(specs, n_ctx=512, here=PLENTY).needs
    # A machine with memory for the small model only.
    here = Machine(ram_total=(small + large) // 2, ram_available=(small + large) // 2)
    plan = make_plan(specs, n_ctx=512, here=here, cores=2)
    assert plan.too_large == (1,)
    result, _ = run(cfg, plan=plan)
    assert result.columns[0].state == "done" and result.cell(0, 0).answer == "Alpha one"
    assert result.columns[1].state == "failed" and result.columns[1].error_kind == "too_large"
    assert "would not fit in memory" in result.columns[1].error


@pytest.mark.inference
def test_stopping_one_column_leaves_the_other_running(tiny_gguf):
    long_a = tiny_gguf([f" a{i}" for i in range(1500)], name="long_a.gguf")
    long_b = tiny_gguf([f" b{i}" for i in range(1500)], name="long_b.gguf")
    sampling = SamplingOptions(max_tokens=4000, seed=1)
    cfg = config(long_a, long_b, sampling=sampling, load=LoadOptions(n_ctx=2048))
    plan = make_plan([str(long_a), str(long_b)], "parallel", n_ctx=2048, here=PLENTY)
    events: list = []
    stopped = threading.Event()

    def on_event(event):
        events.append(event)
        # Stop A once both columns are streaming.
        if not stopped.is_set() and streamed_text(events, 0) and streamed_text(events, 1):
            stopped.set()
            events.append("STOP")
            comparison.stop(0)

    comparison = Comparison(cfg, context=AppContext.load(), on_event=on_event, plan=plan)
    result = comparison.run()
    a, b = result.columns
    assert (a.state, b.state) == ("stopped", "done")
    assert result.cell(0, 0).state == "stopped"
    assert 0 < len(result.cell(0, 0).answer) < len("".join(f" a{i}" for i in range(1500)))
    assert result.cell(0, 1).answer == "".join(f" b{i}" for i in range(1500))
    after = events[events.index("STOP") :]
    assert any(isinstance(e, TextAdded) and e.column == 1 for e in after)  # B kept streaming


@pytest.mark.inference
def test_a_queued_column_stopped_in_sequential_mode_never_loads(tiny_gguf):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    beta = tiny_gguf(BETA, name="beta.gguf")
    cfg = config(alpha, beta, mode="sequential")
    plan = make_plan([str(alpha), str(beta)], "sequential", n_ctx=512, here=PLENTY)
    comparison = Comparison(cfg, context=AppContext.load(), plan=plan)
    comparison.stop(1)
    result = comparison.run()
    assert [c.state for c in result.columns] == ["done", "stopped"]
    assert result.columns[1].load_seconds is None and result.cell(0, 1).answer == ""


@pytest.mark.inference
@pytest.mark.parametrize("broken", ["truncated", "random"])
def test_a_broken_model_fails_only_its_column(tiny_gguf, tmp_path, broken):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    beta = tiny_gguf(BETA, name="beta.gguf")
    bad = tmp_path / "bad.gguf"
    if broken == "truncated":
        bad.write_bytes(alpha.read_bytes()[: alpha.stat().st_size // 2])
    else:
        bad.write_bytes(bytes(range(256)) * 64)
    result, _ = run(config(alpha, bad, beta, mode="parallel"))
    states = [c.state for c in result.columns]
    assert states == ["done", "failed", "done"]
    assert result.columns[1].error  # says why, e.g. "truncated"
    assert result.cell(0, 1).state == "failed"
    assert [result.cell(0, 0).answer, result.cell(0, 2).answer] == ["Alpha one", "Beta two[bold]"]


@pytest.mark.inference
def test_a_prompt_set_fills_the_whole_grid_with_pass_and_fail(tiny_gguf):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    beta = tiny_gguf(BETA, name="beta.gguf")
    prompts = (
        Prompt("Which letter?", id="letter", expect=("Alpha",)),
        Prompt("A number?", id="number", regex=r"\btwo\b"),
        Prompt("Anything", id="free", system="Be brief."),
    )
    result, events = run(config(alpha, beta, prompts=prompts))
    grid = {(c.row, c.column): (c.state, c.passed, c.answer) for c in result.cells}
    assert grid == {
        (0, 0): ("done", True, "Alpha one"),
        (0, 1): ("done", False, "Beta two[bold]"),
        (1, 0): ("done", False, "Alpha one"),
        (1, 1): ("done", True, "Beta two[bold]"),
        (2, 0): ("done", None, "Alpha one"),
        (2, 1): ("done", None, "Beta two[bold]"),
    }
    finished = [e.cell for e in events if isinstance(e, CellChanged) and e.cell.state == "done"]
    assert len(finished) == 6


@pytest.mark.inference
def test_a_saved_comparison_reopens_exports_and_reruns(tiny_gguf, tmp_path):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    beta = tiny_gguf(["Beta", " | two\n", "[bold]"], name="beta.gguf")
    prompts = (Prompt("Hi", id="hi", expect=("one",)),)
    cfg = config(alpha, beta, system_prompt="Be terse.", prompts=prompts)
    result, _ = run(cfg)
    store = CompareStore(tmp_path / "db.sqlite3")
    run_id = store.save(result)

    saved = store.load(run_id)
    assert saved.config == result.config  # prompts, system prompt, settings, seed
    assert saved.seed == 7
    assert [c.answer for c in saved.cells] == ["Alpha one", "Beta | two\n[bold]"]
    assert saved.columns[0].sha256 == hashlib.sha256(alpha.read_bytes()).hexdigest()
    assert saved.llama_cpp_version == result.llama_cpp_version != ""
    assert saved.cell(0, 0).stats == result.cell(0, 0).stats
    assert store.list()[0].id == run_id

    markdown = saved.to_markdown()
    assert "| Hi | ✓ pass: Alpha one | ✗ fail: Beta \\| two<br>[bold] |" in markdown
    assert saved.columns[1].sha256 in markdown
    lines = [json.loads(line) for line in saved.to_jsonl().splitlines()]
    assert [(x["model"], x["answer"], x["passed"]) for x in lines] == [
        (str(alpha), "Alpha one", True),
        (str(beta), "Beta | two\n[bold]", False),
    ]

    plan = make_plan([str(alpha), str(beta)], n_ctx=512, here=PLENTY)
    rerun = Comparison(saved.config, context=AppContext.load(), parent_id=run_id, plan=plan).run()
    assert rerun.parent_id == run_id
    assert [c.answer for c in rerun.cells] == [c.answer for c in saved.cells]
    assert diff(saved, rerun) == []
    assert store.latest_like(rerun) == run_id


@pytest.mark.inference
def test_blind_mode_hides_names_until_a_vote_and_keeps_votes(tiny_gguf, tmp_path):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    beta = tiny_gguf(BETA, name="beta.gguf")
    result, _ = run(config(alpha, beta, blind=True))
    assert sorted(c.letter for c in result.columns) == ["A", "B"]
    assert not result.revealed
    assert "alpha" not in result.to_markdown() and "alpha" not in result.to_jsonl()
    assert [c.name(result.revealed) for c in result.by_letter()] == ["Model A", "Model B"]
    with pytest.raises(CompareError):
        result.vote("C")
    winner = next(c for c in result.columns if c.spec == str(alpha))
    result.vote(winner.letter)
    assert result.revealed and "alpha" in result.to_markdown()

    store = CompareStore(tmp_path / "db.sqlite3")
    run_id = store.save(result)
    store.add_vote(run_id, result.vote("tie"))
    saved = store.load(run_id)
    assert [v.choice for v in saved.votes] == [winner.letter, "tie"]
    assert {c.spec: c.letter for c in saved.columns} == {c.spec: c.letter for c in result.columns}
    assert "tie" in saved.to_markdown()


@pytest.mark.inference
def test_per_model_overrides_reach_only_their_model(tiny_gguf):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    beta = tiny_gguf(BETA, name="beta.gguf")
    cfg = CompareConfig(
        (ModelChoice(str(alpha)), ModelChoice(str(beta), parse_overrides("max_tokens=2"))),
        (Prompt("Go", id="go"),),
        sampling=SHORT,
        load=SMALL_CTX,
    )
    result, _ = run(cfg)
    assert result.cell(0, 0).answer == "Alpha one"
    assert result.cell(0, 1).answer == "Beta two"  # cut after 2 tokens
    assert result.cell(0, 1).stats.finish_reason == "length"


def test_bad_input_is_refused_clearly():
    with pytest.raises(CompareError, match="2 to 4 models"):
        CompareConfig((ModelChoice("a.gguf"),), (Prompt("x"),)).validate()
    with pytest.raises(CompareError, match="2 to 4 models"):
        CompareConfig(tuple(ModelChoice(f"{i}.gguf") for i in range(5)), (Prompt("x"),)).validate()
    with pytest.raises(CompareError, match="bad override"):
        parse_overrides("temprature=1")
    with pytest.raises(CompareError, match="not a number"):
        parse_overrides("top_k=high")


@pytest.mark.inference
def test_smollm2_against_a_tiny_model_reproducibly(smollm2, tiny_gguf):
    alpha = tiny_gguf(ALPHA, name="alpha.gguf")
    cfg = config(
        smollm2,
        alpha,
        prompts=(Prompt("What is the capital of France?", id="capital"),),
        sampling=SamplingOptions(max_tokens=12, temperature=0.0, seed=3),
        mode="sequential",
    )
    first, events = run(cfg)
    assert [c.state for c in first.columns] == ["done", "done"]
    answer = first.cell(0, 0).answer
    assert answer.strip() and answer == streamed_text(events, 0)
    assert first.cell(0, 0).stats.completion_tokens > 1
    assert first.cell(0, 1).answer == "Alpha one"
    second, _ = run(cfg)
    assert second.cell(0, 0).answer == answer  # same seed, same settings: same answer
