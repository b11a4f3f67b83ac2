"""The compare screen, driven with Pilot: real tiny GGUF models through LocalBackend, real store."""

from __future__ import annotations

import gc

import pytest

from tests.pilot import until
from tui.ui.app import LlmTui
from tui.ui.compare.screen import CompareScreen, HistoryScreen, ModelColumn

pytestmark = pytest.mark.inference


async def open_compare(pilot, *specs) -> CompareScreen:
    pilot.app.open_job("compare", str(specs[0]))
    await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), "compare screen shown")
    screen = pilot.app.screen
    for spec in specs[1:]:
        screen.open_model(str(spec))
    await until(pilot, lambda: len(screen.choices) == len(specs), "models chosen")
    return screen


async def run_prompt(pilot, screen: CompareScreen, text: str = "Say something") -> None:
    screen.query_one("#prompt").load_text(text)
    screen.query_one("#prompt").focus()
    await pilot.press("ctrl+r")
    await until(pilot, lambda: screen.result is not None, "comparison started")


def saved(screen: CompareScreen):
    return lambda: screen.result is not None and screen.result.id is not None


def column_text(screen: CompareScreen, index: int) -> str:
    return screen.query_one(f"#column-{index}", ModelColumn).markdown.source


async def columns_show(pilot, screen: CompareScreen, *texts: str) -> None:
    """The columns' Markdown is written by a timer, after the run ends: wait for the final text."""
    shown = lambda: [column_text(screen, i) for i in range(len(texts))]  # noqa: E731
    for _ in range(500):
        if shown() == list(texts):
            return
        await pilot.pause(0.02)
    assert shown() == list(texts)


def column_title(screen: CompareScreen, index: int) -> str:
    return str(screen.query_one(f"#column-{index} .column-title").render())


async def test_two_models_stream_into_their_own_columns(catalogue, tiny_gguf):
    alpha = tiny_gguf(["Alpha", " one"], name="alpha.gguf")
    beta = tiny_gguf(["Beta", " two", "[bold]", "\x1b[2J", "[/]"], name="beta.gguf")
    app = LlmTui(catalogue)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_compare(pilot, alpha, beta)
        await run_prompt(pilot, screen)
        await until(pilot, saved(screen), "comparison finished and saved")
        # Markup stays text; the escape sequence is gone.
        await columns_show(pilot, screen, "Alpha one", "Beta two[bold][/]")
        assert "A · alpha" in column_title(screen, 0) and "done" in column_title(screen, 0)
        stats = str(screen.query_one("#column-1 .column-stats").render())
        assert "tok/s" in stats and "load" in stats


async def test_a_reasoning_block_stays_out_of_the_answer_column(catalogue, tiny_gguf):
    thinker = tiny_gguf(["<think>", "plan", " [bold]", "</think>", "Answer", "."], name="thinker.gguf")
    plain = tiny_gguf(["Plain", "."], name="plain.gguf")
    async with LlmTui(catalogue).run_test(size=(160, 48)) as pilot:
        screen = await open_compare(pilot, thinker, plain)
        await run_prompt(pilot, screen)
        await until(pilot, saved(screen), "comparison finished and saved")
        await columns_show(pilot, screen, "Answer.", "Plain.")
        assert screen.result.cell(0, 0).reasoning == "plan [bold]"
        assert f"reasoning {len('plan [bold]')} characters" in column_title(screen, 0)
        assert "reasoning" not in column_title(screen, 1)


async def test_stop_one_column_from_the_keyboard(catalogue, tiny_gguf):
    long_a = tiny_gguf([f" a{i}" for i in range(1500)], name="long_a.gguf")
    long_b = tiny_gguf([f" b{i}" for i in range(1500)], name="long_b.gguf")
    app = LlmTui(catalogue)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_compare(pilot, long_a, long_b)
        screen.query_one("#settings").value = "max_tokens=4000 seed=1"
        screen.query_one("#mode").value = "parallel"
        await run_prompt(pilot, screen)
        result = screen.result
        await until(
            pilot,
            lambda: all(result.columns[i].state == "generating" for i in (0, 1)),
            "both generating",
        )
        assert gc.get_freeze_count() > 0  # no full collection while the columns stream
        screen.query_one("#column-0 .column-body").focus()
        await pilot.press("ctrl+k")
        await until(pilot, saved(screen), "comparison finished")
        assert gc.get_freeze_count() == 0
        assert [c.state for c in result.columns] == ["stopped", "done"]
        assert result.cell(0, 1).answer == "".join(f" b{i}" for i in range(1500))


async def test_blind_vote_history_reopen_and_rerun(catalogue, tiny_gguf):
    alpha = tiny_gguf(["Alpha", " one"], name="alpha.gguf")
    beta = tiny_gguf(["Beta", " two"], name="beta.gguf")
    app = LlmTui(catalogue)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_compare(pilot, alpha, beta)
        screen.query_one("#blind").value = True
        await run_prompt(pilot, screen)
        await until(pilot, saved(screen), "finished")
        await pilot.pause()
        result = screen.result
        titles = [column_title(screen, i) for i in (0, 1)]
        assert all("Model " in t and "alpha" not in t and "beta" not in t for t in titles)
        # Vote for whichever letter alpha got.
        letter = next(c.letter for c in result.columns if c.spec == str(alpha))
        screen.query_one("#column-0 .column-body").focus()
        await pilot.press(letter.lower())
        assert [v.choice for v in result.votes] == [letter]
        assert "alpha" in column_title(screen, 0)  # names revealed
        first_id = result.id

        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "history shown")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen and screen.comparison is None, "reopened")
        await pilot.pause()
        assert screen.result.id == first_id and screen.result.votes[0].choice == letter
        assert {column_text(screen, i) for i in (0, 1)} == {"Alpha one", "Beta two"}

        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "history shown")
        await pilot.press("r")
        await until(
            pilot,
            lambda: screen.result is not None and screen.result.parent_id == first_id,
            "re-run",
        )
        await until(pilot, saved(screen), "re-run finished")
        rerun = screen.result
        assert sorted(c.answer for c in rerun.cells) == ["Alpha one", "Beta two"]


async def test_prompt_set_grid(catalogue, tiny_gguf, tmp_path):
    alpha = tiny_gguf(["Alpha", " one"], name="alpha.gguf")
    beta = tiny_gguf(["Beta", " two"], name="beta.gguf")
    prompts = tmp_path / "set.yaml"
    prompts.write_text("- prompt: first\n  expect: Alpha\n- prompt: second\n  regex: two\n")
    app = LlmTui(catalogue)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_compare(pilot, alpha, beta)
        screen.query_one("#set-path").value = str(prompts)
        screen.query_one("#prompt").focus()
        await pilot.press("ctrl+t")
        await until(pilot, lambda: screen.query_one("#grid").display, "grid shown")
        grid = screen.query_one("#grid")
        assert grid.row_count == 2 and len(grid.columns) == 3
        rows = [[str(c) for c in grid.get_row_at(r)] for r in range(2)]
        assert rows[0][1].startswith("✓ pass: Alpha one") and rows[0][2].startswith("✗ fail: Beta")
        assert rows[1][1].startswith("✗ fail: Alpha") and rows[1][2].startswith("✓ pass: Beta two")


async def test_bad_input_is_a_notification_not_a_crash(catalogue, tiny_gguf, tmp_path):
    alpha = tiny_gguf(["Alpha"], name="alpha.gguf")
    bad_set = tmp_path / "bad.jsonl"
    bad_set.write_text('{"prompt": "ok"}\n{oops}\n')
    app = LlmTui(catalogue)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_compare(pilot, alpha)
        await run_prompt_without_waiting(pilot, screen)
        assert any("2 to 4 models" in str(n.message) for n in app._notifications)
        screen.query_one("#set-path").value = str(bad_set)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert any(f"{bad_set}:2:" in str(n.message) for n in app._notifications)
        assert screen.result is None


async def run_prompt_without_waiting(pilot, screen):
    screen.query_one("#prompt").load_text("hi")
    screen.query_one("#prompt").focus()
    await pilot.press("ctrl+r")
    await pilot.pause()


async def test_next_pair_sets_up_the_least_certain_pair_blind(catalogue, tiny_gguf):
    from tests.judged import save_comparison
    from tui.core.compare import votes
    from tui.core.compare.store import CompareStore
    from tui.core.config.paths import app_paths

    alpha, beta, gamma = (
        tiny_gguf([name.title(), " here"], name=f"{name}.gguf") for name in ("alpha", "beta", "gamma")
    )
    store = CompareStore(app_paths().database)
    for _ in range(6):
        save_comparison(store, [(str(alpha), "alpha"), (str(beta), "beta")], ("A",),
                        prompts=("Old question?",))  # fmt: skip
    save_comparison(store, [(str(alpha), "alpha"), (str(gamma), "gamma")], ("B",),
                    prompts=("Which is heavier, a kilo of feathers or of lead?",))  # fmt: skip
    app = LlmTui(catalogue)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), "compare shown")
        screen = app.screen
        await pilot.press("ctrl+n")
        await until(pilot, lambda: len(screen.choices) == 2, "a pair proposed")
        # alpha and gamma met once, alpha and beta six times
        assert {c.spec for c in screen.choices} == {str(alpha), str(gamma)}
        assert screen.query_one("#blind").value is True
        prompt = screen.query_one("#prompt").text
        assert prompt in ("Old question?", "Which is heavier, a kilo of feathers or of lead?")

        await pilot.press("ctrl+r")
        await until(pilot, saved(screen), "the proposed pair ran")
        result = screen.result
        assert result.config.blind and result.config.prompts[0].prompt == prompt
        letter = next(c.letter for c in result.columns if c.spec == str(gamma))
        screen.query_one("#column-0 .column-body").focus()
        await pilot.press(letter.lower())
        board = votes.leaderboard(store, rounds=20)
        gamma_rating = next(r for r in board.ratings if r.model == "gamma")
        assert (gamma_rating.games, gamma_rating.wins) == (2, 2)

        gamma.unlink()  # a model whose file is gone is not proposed
        await pilot.press("ctrl+n")
        await until(pilot, lambda: {c.spec for c in screen.choices} == {str(alpha), str(beta)},
                    "the pair without the missing file")  # fmt: skip


async def test_next_pair_without_comparisons_says_what_to_do(catalogue):
    app = LlmTui(catalogue)
    notes = []
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), "compare shown")
        screen = app.screen
        screen.notify = lambda message, **kw: notes.append(message)
        await pilot.press("ctrl+n")
        await until(pilot, lambda: notes, "a notification")
        assert "Compare two models" in notes[0] and screen.choices == []
