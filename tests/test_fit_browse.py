"""Fits here in the browse table: the column, the `fits:` filter, sorting by speed, and the speed
label once answers measured here calibrate it (Pilot, on a machine pinned to a known memory)."""

from __future__ import annotations

import pytest

from tests.pilot import until
from tests.test_ui_browse import detail_text, shown_ids, type_text
from tui.core.catalogue.browse import COLUMN_IDS
from tui.core.models import fit, recommend
from tui.ui.app import LlmTui
from tui.ui.browse.table import ModelTable

GiB = fit.GiB
HERE = fit.Machine(ram_total=24 * GiB, ram_available=12 * GiB)


@pytest.fixture(autouse=True)
def pinned(monkeypatch):
    monkeypatch.setattr(fit, "machine", lambda: HERE)


def fits_cell(app, model_id: str) -> str:
    table = app.screen.query_one(ModelTable)
    row = next(r for r in table.rows if r.id == model_id)
    return row.cells[COLUMN_IDS.index("fits")]


def expected(app, model) -> recommend.ModelFit:
    n_ctx = app.context.settings.downloads.context_length
    return recommend.model_fit(model.id, None, model.params_b, HERE, n_ctx, recommend.Calibration())


def has_fits(app) -> bool:
    return app.screen.index.fits is not None


async def test_the_column_shows_the_best_quant_and_the_filter_narrows_to_it(catalogue):
    async with LlmTui(catalogue).run_test(size=(160, 40)) as pilot:
        app = pilot.app
        await until(pilot, lambda: has_fits(app), "the fits were never computed")
        await pilot.pause()
        assert "fits" in app.screen.query_one(ModelTable).visible_columns
        words = {m.id: expected(app, m).word for m in catalogue.models}
        assert {"yes", "no", "unknown"} <= set(words.values())  # this machine has all three
        for model in catalogue.models:
            found = expected(app, model)
            assert fits_cell(app, model.id) == found.cell
            if found.word == "yes":
                assert fits_cell(app, model.id).startswith(f"{found.quant} ~")
                assert fits_cell(app, model.id).endswith("tok/s estimate")

        await pilot.press("slash")
        await type_text(pilot, "fits:no")
        await pilot.pause()
        assert sorted(shown_ids(app)) == sorted(m for m, w in words.items() if w == "no")
        await pilot.press("escape")
        await type_text(pilot, "fits:yes")
        await pilot.pause()
        assert sorted(shown_ids(app)) == sorted(m for m, w in words.items() if w == "yes")


async def test_sorting_by_the_column_puts_the_fastest_first(catalogue):
    async with LlmTui(catalogue).run_test(size=(160, 40)) as pilot:
        app = pilot.app
        await until(pilot, lambda: has_fits(app))
        app.screen.action_sort("fits")
        await pilot.pause()
        fitting = [m for m in shown_ids(app) if app.screen.index.fits[m].word == "yes"]
        speeds = [app.screen.index.fits[m].speed.tokens_per_second for m in fitting]
        assert speeds == sorted(speeds, reverse=True) and len(speeds) > 1
        assert shown_ids(app)[: len(fitting)] == fitting  # no speed: after every fitting model


async def test_a_measured_answer_calibrates_the_speed_label(catalogue, tmp_path):
    from tui.core.chat.store import ConversationStore
    from tui.core.config.paths import app_paths
    from tui.core.engine.base import AnswerStats

    model_file = tmp_path / "measured.gguf"
    with model_file.open("wb") as f:
        f.truncate(10**9)  # sparse
    factor = 10.0 / recommend.nominal_speed(10**9, "RAM")

    async with LlmTui(catalogue).run_test(size=(160, 40)) as pilot:
        app = pilot.app
        await until(pilot, lambda: has_fits(app))
        model = next(m for m in catalogue.models if expected(app, m).word == "yes")
        assert fits_cell(app, model.id).endswith("tok/s estimate")

        # An answer measured (as a chat elsewhere would store it), then back to the table.
        store = ConversationStore(app_paths().database)
        conversation = store.create(str(model_file), "measured")
        stats = AnswerStats(completion_tokens=41, generation_seconds=4.0)  # 10 tok/s measured
        store.add_message(conversation.id, "assistant", "answer", stats=stats.to_dict())
        store.close()
        await pilot.press("2")
        await pilot.press("1")
        await until(pilot, lambda: "estimate" not in fits_cell(app, model.id), "calibrated")
        assert "tok/s" in fits_cell(app, model.id)
        calibrated = app.screen.index.fits[model.id].speed
        assert calibrated.tokens_per_second == pytest.approx(
            expected(app, model).speed.tokens_per_second * factor
        )


async def test_the_detail_pane_says_what_fits_where_the_table_has_no_room(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        app = pilot.app
        await until(pilot, lambda: has_fits(app), "the fits were never computed")
        await pilot.pause()
        assert "fits" not in app.screen.query_one(ModelTable).visible_columns  # too narrow here
        fitting = next(m for m in catalogue.models if expected(app, m).word == "yes")
        missing = next(m for m in catalogue.models if expected(app, m).word == "no")
        for model, said in ((fitting, f"yes: {expected(app, fitting).cell}"),
                            (missing, "no" + expected(app, missing).cell[2:])):  # fmt: skip
            app.screen.open_model(model.id)
            await pilot.pause()
            text = detail_text(app)
            assert "Fits here" in text and said in text, text
