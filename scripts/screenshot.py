"""Export SVG screenshots of the main screens to assets/ (used by the README).

    .venv/bin/python scripts/screenshot.py [--size 120x40]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.widgets import Input  # noqa: E402

from tui.core.catalogue import load_catalogue  # noqa: E402
from tui.ui.app import LlmTui  # noqa: E402

# file name -> keys pressed from the start screen
SHOTS = {
    "browse.svg": ["down", "down", "down", "down", "down", "down"],
    "leaderboards.svg": ["2", "right", "down"],
    "linked-leaderboards.svg": ["2", "right_square_bracket", "right_square_bracket"],
    "help.svg": ["question_mark"],
}


async def shoot(name: str, keys: list[str], size: tuple[int, int], out: Path) -> Path:
    app = LlmTui(load_catalogue())
    async with app.run_test(size=size) as pilot:
        for widget in app.screen.query(Input):
            widget.cursor_blink = False
        await pilot.press(*keys)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        path = Path(app.save_screenshot(filename=name, path=str(out)))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="120x40", help="terminal size, WIDTHxHEIGHT")
    parser.add_argument("--out", type=Path, default=ROOT / "assets")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, keys in SHOTS.items():
        print(asyncio.run(shoot(name, keys, (width, height), args.out)))


if __name__ == "__main__":
    main()
