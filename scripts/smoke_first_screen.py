"""The installed app's first screen, headless: it starts, and the first catalogue row is readable in full.

Run by `scripts/smoke_installed.sh` with the installed package's Python, outside the checkout.
"""

from __future__ import annotations

import asyncio
import html
import sys
from pathlib import Path

import tui
from tui.core.catalogue import load_catalogue
from tui.ui.app import LlmTui


async def main() -> int:
    here = Path(tui.__file__).resolve()
    if "site-packages" not in here.parts:
        print(f"smoke: tui was imported from {here}, not from the installed package", file=sys.stderr)
        return 1
    catalogue = load_catalogue()
    app = LlmTui(catalogue)
    first = next(m for m in catalogue.models if m.group == catalogue.groups[0].id)
    async with app.run_test(size=(160, 40)) as pilot:
        for _ in range(500):
            screen = html.unescape(app.export_screenshot()).replace("\xa0", " ")
            if first.name in screen:
                break
            await pilot.pause(0.02)
        else:
            print(f"smoke: the first row ({first.name!r}) never showed on the first screen", file=sys.stderr)
            return 1
    print(f"smoke: the first screen shows the first row, {first.name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
