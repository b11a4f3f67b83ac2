"""The presets manager through Pilot: opened from anywhere (f6, the palette, the help), create with
validation messages, edit (a built-in: as a copy), duplicate, delete, a model's default, a broken
file; hostile names and system prompts shown literally; a snapshot. And picking presets in compare."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Select, Static, TextArea

from tests.pilot import fits_found, until
from tui.core.chat.presets import Preset, PresetBook
from tui.core.config.context import AppContext
from tui.core.config.paths import app_paths
from tui.ui.app import LlmTui
from tui.ui.common.commands import palette_commands
from tui.ui.common.help import help_sections
from tui.ui.presets.screen import DefaultForm, PresetForm, PresetsScreen

HOSTILE_NAME = "[bold]x[/] \x1b[2J"
HOSTILE_SYSTEM = "[red]not red[/] [link=http://x]y[/link]\n```unclosed"


def names(table: DataTable) -> list[str]:
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def row(table: DataTable, name: str) -> list[str]:
    return [str(cell) for cell in table.get_row(name)]


def text_of(widget: Static) -> str:
    return str(widget.render())


def saved_book() -> PresetBook:
    return PresetBook.load(app_paths().presets_file)


async def open_manager(pilot) -> PresetsScreen:
    await pilot.press("f6")
    await until(pilot, lambda: isinstance(pilot.app.screen, PresetsScreen), "the presets shown")
    return pilot.app.screen


async def open_form(pilot, key: str) -> PresetForm:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, PresetForm), "the form shown")
    return pilot.app.screen


async def fill(pilot, form: PresetForm, **values) -> None:
    for name, value in values.items():
        if name == "system_prompt":
            form.query_one("#field-system_prompt", TextArea).load_text(value)
        else:
            form.query_one(f"#field-{name}", Input).value = value
    await pilot.pause()


async def test_the_manager_is_reachable_from_every_view(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        titles = [c.title for c in palette_commands(pilot.app.screen)]
        assert any(t.startswith("Chat presets") for t in titles)
        everywhere = dict(help_sections(pilot.app.screen))["Everywhere"]
        assert any(e.binding.id == "app.presets" and e.keys == "f6" for e in everywhere)
        for view in ("4", "5"):  # chat and compare too, over their text fields
            await pilot.press(view)
            await pilot.pause()
            screen = await open_manager(pilot)
            await pilot.press("escape")
            await until(pilot, lambda s=screen: not s.is_attached, "the presets closed")


async def test_create_with_validation_messages_then_edit_and_delete(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_manager(pilot)
        table = screen.query_one(DataTable)
        assert names(table) == ["precise", "balanced", "creative", "code"]
        assert row(table, "code")[1] == "built in"

        form = await open_form(pilot, "n")
        await fill(pilot, form, name="terse", temperature="9", system_prompt="Be brief.")
        await pilot.press("ctrl+s")
        error = text_of(form.query_one("#preset-form-error", Static))
        assert error.startswith("temperature: expected a number from 0 to 5, got 9")
        assert pilot.app.screen is form and form.focused is form.query_one("#field-temperature")
        await fill(pilot, form, temperature="", top_k="12")
        await pilot.press("ctrl+s")
        assert "temperature: expected a number, got ''" in text_of(form.query_one("#preset-form-error"))
        await fill(pilot, form, temperature="0.3", context_length="2048")
        form.query_one("#field-prompt_format", Select).value = "chatml"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: pilot.app.screen is screen, "the form closed")
        made = Preset("terse", system_prompt="Be brief.", temperature=0.3, top_k=12,
                      prompt_format="chatml", context_length=2048)  # fmt: skip
        assert saved_book().get("terse") == made
        assert row(table, "terse")[1] == "yours" and table.cursor_row == 4

        # Edit: a new name (hostile) and system prompt, shown as they are.
        form = await open_form(pilot, "e")
        assert form.query_one("#field-name", Input).value == "terse"
        await fill(pilot, form, name="[bold]x[/]", system_prompt=HOSTILE_SYSTEM)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: pilot.app.screen is screen, "the form closed")
        assert names(table)[-1] == "[bold]x[/]" and saved_book().find("terse") is None
        assert text_of(screen.query_one("#preset-system", Static)) == HOSTILE_SYSTEM

        # A name with control characters is refused, naming the field.
        form = await open_form(pilot, "e")
        await fill(pilot, form, name=HOSTILE_NAME)
        await pilot.press("ctrl+s")
        assert text_of(form.query_one("#preset-form-error")).startswith("name: one line")
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "the form closed")

        # Delete: a first d asks, a second deletes.
        await pilot.press("d")
        assert "press d again" in text_of(screen.query_one("#presets-result", Static))
        assert saved_book().find("[bold]x[/]") is not None
        await pilot.press("d")
        await until(pilot, lambda: table.row_count == 4, "the preset deleted")
        assert saved_book().names() == ["precise", "balanced", "creative", "code"]


async def test_built_ins_are_copied_when_edited_and_never_deleted(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_manager(pilot)
        table = screen.query_one(DataTable)
        table.move_cursor(row=3)  # code
        await pilot.press("d")
        said = text_of(screen.query_one("#presets-result", Static))
        assert "'code' is built in and cannot be deleted" in said and table.row_count == 4
        form = await open_form(pilot, "e")
        assert "copy of your own" in str(form.query_one("#preset-form").border_title)
        await fill(pilot, form, max_tokens="64")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: table.row_count == 5, "the copy listed")
        assert names(table)[-1] == "code copy" and saved_book().get("code copy").max_tokens == 64
        assert saved_book().get("code").max_tokens == 1024
        table.move_cursor(row=0)
        await pilot.press("c")
        await until(pilot, lambda: table.row_count == 6, "the duplicate listed")
        assert names(table)[-1] == "precise copy" and table.cursor_row == 5


async def test_a_default_preset_for_a_model(catalogue):
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_manager(pilot)
        table = screen.query_one(DataTable)
        table.move_cursor(row=3)  # code
        await pilot.press("m")
        await until(pilot, lambda: isinstance(pilot.app.screen, DefaultForm), "the default form")
        form = pilot.app.screen
        await pilot.press("ctrl+s")
        assert "name a model first" in text_of(form.query_one("#preset-default-error", Static))
        form.query_one("#default-model", Input).value = "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: pilot.app.screen is screen, "the form closed")
        assert row(table, "code")[2] == "smollm2-135m-instruct.q4_1"
        assert saved_book().default_for("SmolLM2-135M-Instruct.Q4_1.gguf").name == "code"


async def test_a_broken_file_is_one_line_and_the_built_ins_still_work(catalogue):
    paths = app_paths()
    paths.config_dir.mkdir(parents=True)
    paths.presets_file.write_text("presets:\n  - name: mine\n    top_p: 7\n")
    async with LlmTui(catalogue).run_test(size=(120, 40)) as pilot:
        screen = await open_manager(pilot)
        problem = text_of(screen.query_one("#presets-problem", Static))
        assert problem.startswith(str(paths.presets_file)) and "presets[0].top_p" in problem
        assert names(screen.query_one(DataTable)) == ["precise", "balanced", "creative", "code"]
        await pilot.press("c")  # nothing is written over the file to fix
        assert "presets[0].top_p" in text_of(screen.query_one("#presets-result", Static))
    assert paths.presets_file.read_text() == "presets:\n  - name: mine\n    top_p: 7\n"


async def test_compare_takes_a_preset_for_all_and_per_model(catalogue, tiny_gguf):
    from tui.ui.compare.screen import CompareScreen

    book = AppContext.load().presets()
    book.create(Preset("mine", system_prompt="Be brief.", temperature=0.1, max_tokens=32))
    beta = tiny_gguf(["Beta"], name="beta.gguf")
    book.set_default(str(beta), "code")  # its sampling comes with the model
    async with LlmTui(catalogue).run_test(size=(140, 45)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), "compare shown")
        screen = pilot.app.screen
        screen.open_model(str(tiny_gguf(["Alpha"], name="alpha.gguf")))
        screen.open_model(str(beta))
        await pilot.pause()
        assert [dict(c.overrides) for c in screen.choices] == [
            {}, {"temperature": 0.2, "repeat_penalty": 1.0, "max_tokens": 1024}
        ]
        screen.query_one("#preset", Select).value = "mine"
        await pilot.pause()
        assert screen.query_one("#system", Input).value == "Be brief."
        assert "temperature=0.1 max_tokens=32" in screen.query_one("#settings", Input).value
        screen.query_one("#models").highlighted = 0
        screen.query_one("#model-preset", Select).value = "creative"
        await pilot.pause()
        screen.query_one("#prompt", TextArea).load_text("hi")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.result is not None and screen.result.finished,
                    "the comparison finished")  # fmt: skip
        config = screen.result.config
        assert [c.answer for c in screen.result.cells] == ["Alpha", "Beta"]
        assert (config.system_prompt, config.sampling.temperature) == ("Be brief.", 0.1)
        assert (config.sampling_for(0).temperature, config.sampling_for(0).top_k) == (1.1, 0)
        assert config.sampling_for(1).max_tokens == 1024  # its default preset's


def test_snapshot_of_the_manager(snap_compare, catalogue, fixed_machine):
    book = AppContext.load().presets()
    book.create(Preset("[bold]mine[/]", system_prompt=HOSTILE_SYSTEM, temperature=0.3))
    book.set_default("SmolLM2-135M-Instruct.Q4_1.gguf", "[bold]mine[/]")

    async def run_before(pilot) -> None:
        await until(pilot, lambda: fits_found(pilot.app), "the Fits here column behind it")
        screen = await open_manager(pilot)
        screen.query_one(DataTable).move_cursor(row=4)
        await pilot.pause()

    assert snap_compare(LlmTui(catalogue), terminal_size=(100, 30), run_before=run_before)
