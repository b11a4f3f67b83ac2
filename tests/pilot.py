"""Helpers for Pilot tests."""

from __future__ import annotations


async def until(pilot, condition, what: str = "the screen never got there", steps: int = 1500) -> None:
    """Let the app run until `condition()` holds (bounded, so a broken feature fails instead of hanging)."""
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never happened: {what}")


def put_on_this_machine(model, source):
    """A copy of the GGUF `source` in llmtui's models folder, named as the catalogue model's GGUF
    repository names its files (`TheBloke/phi-2-GGUF` -> `phi-2.Q4_0.gguf`), so that it counts as
    that model's file on this machine."""
    import shutil

    from tui.core.config.paths import app_paths

    repo = model.gguf.repo or next(iter(model.gguf.alternatives), model.id)
    stem = repo.split("/")[-1].lower().removesuffix("-gguf")
    folder = app_paths().models_dir
    folder.mkdir(parents=True, exist_ok=True)
    return shutil.copyfile(source, folder / f"{stem}.Q4_0.gguf")


def fits_found(app) -> bool:
    """Whether every browse screen on the app's stack has its Fits here column (computed in a
    worker after the first frame)."""
    from tui.ui.browse.screen import BrowseScreen

    return all(s.index.fits is not None for s in app.screen_stack if isinstance(s, BrowseScreen))
