"""Filter-as-you-type with 10,000 models: time from a key press to the updated table on screen.

Two apps run the same keystrokes under Pilot, in the same process, alternating:
  llmtui    the real browse screen (ModelIndex filter + the virtual ModelTable)
  baseline  an Input and a DataTable rebuilt (clear + add_rows) per keystroke, same filtering:
            ModelIndex, i.e. the obvious design
  floor     an app with only the Input: what any keystroke costs in Textual on this machine
For each key, from handing it to the app as the terminal driver does to the first frame displayed
after the table took the new rows:
  latency   wall-clock time. Textual paints on a 60 fps timer, so this includes up to 16.7 ms of
            waiting for the next frame, and whatever else the machine is doing
  work      CPU time of the app's thread (the event loop) in that interval: key handling,
            filtering, table update, layout, paint. This is what has to fit in a 16 ms frame;
            background threads (e.g. downloads starting) are not keystroke work
Keys are sent like the driver sends them, not with `Pilot.press`: that one also waits on a
callback from every widget on the screen after each key, work a real keystroke does not do.

    .venv/bin/python bench/filter.py [--models 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.text import Text  # noqa: E402
from textual import events  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import DataTable, Input  # noqa: E402

from tui.core.catalogue import Catalogue, GgufRef, Model, load_catalogue  # noqa: E402
from tui.core.catalogue.browse import COLUMNS, ModelIndex  # noqa: E402
from tui.ui.app import LlmTui  # noqa: E402
from tui.ui.browse.table import ModelTable  # noqa: E402

# What a user types: narrowing, a typo corrected, then cleared back to everything.
KEYS = [*"llama", "space", *"7b", "backspace", "backspace", *"13b", *["backspace"] * 9]
FAMILIES = ["llama", "mistral", "qwen", "yi", "phi", "gemma", "falcon", "deepseek", "baichuan",
            "internlm", "chatglm", "vicuna", "wizard", "codellama", "starcoder", "bge", "e5"]
VARIANTS = ["chat", "instruct", "base", "code", "math", "long", "dpo", "sft"]
LICENCES = ["Apache-2.0", "MIT", "Llama 2 Community License", "CC-BY-NC-4.0", None]


def generated_catalogue(total: int) -> Catalogue:
    """The real catalogue plus generated models, ``total`` in all (deterministic)."""
    base = load_catalogue()
    rng = random.Random(2024)
    groups = [g.id for g in base.groups]
    models = list(base.models)
    for i in range(total - len(models)):
        family = rng.choice(FAMILIES)
        size = rng.choice([0.5, 1.1, 1.8, 3, 7, 13, 14, 34, 70])
        name = f"{family}-{size:g}b-{rng.choice(VARIANTS)}-v{i % 97}.{i}"
        org = f"{family}-org-{rng.randrange(200)}"
        has_gguf = rng.random() < 0.5
        models.append(Model(
            id=f"{org}/{name}", name=name, organisation=org, group=rng.choice(groups),
            url=f"https://huggingface.co/{org}/{name}", kind="chat", params_b=size,
            license=rng.choice(LICENCES),
            gguf=GgufRef(repo=f"TheBloke/{name}-GGUF") if has_gguf else GgufRef(reason="none"),
        ))
    return dataclasses.replace(base, models=tuple(models))


class BaselineApp(App):
    """The obvious design: rebuild a DataTable with the filtered rows on every keystroke."""

    def __init__(self, catalogue: Catalogue) -> None:
        super().__init__()
        self.index = ModelIndex(catalogue)

    def compose(self) -> ComposeResult:
        yield Input(id="filter")
        yield DataTable(id="models")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*(c.title for c in COLUMNS))
        self.show(self.index.view())

    def show(self, rows) -> None:
        table = self.query_one(DataTable)
        table.clear()
        table.add_rows([[Text(cell) for cell in row.cells] for row in rows])
        table.shown_at = time.perf_counter()  # noqa: B010 - bench bookkeeping

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show(self.index.view(event.value))


class FloorApp(App):
    """Only the Input: the cost of a keystroke in Textual itself, on this machine."""

    def compose(self) -> ComposeResult:
        yield Input(id="filter")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.input.shown_at = time.perf_counter()


def key_event(key: str) -> events.Key:
    """The event the terminal driver posts for ``key`` (a character, "space" or "backspace")."""
    return events.Key(key, key if len(key) == 1 else {"space": " "}.get(key))


async def type_keys(app: App, shown_by: str, keys: list[str]) -> list[tuple[float, float]]:
    """Per key: (latency, CPU work) from posting the key to the first frame after ``shown_by``
    (a widget selector) took the key's result."""
    display = app._display  # private: called once per displayed frame (also when headless)
    pending: dict[str, object] = {}  # the key in flight: its target widget and a "shown" event

    def timed_display(screen, renderable):
        display(screen, renderable)
        target = pending.get("target")
        if renderable is not None and target is not None and getattr(target, "shown_at", 0.0):
            pending["frame"] = (time.perf_counter(), time.thread_time())
            pending.pop("target")
            pending["shown"].set()

    app._display = timed_display
    results = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.query_one("#filter", Input).focus()
        await pilot.pause(0.3)
        target = app.screen.query_one(shown_by)
        for key in keys:
            target.shown_at = 0.0
            pending.update(target=target, shown=asyncio.Event())
            start, cpu = time.perf_counter(), time.thread_time()
            app._driver.send_message(key_event(key))  # private: the driver's own way in
            try:
                await asyncio.wait_for(pending["shown"].wait(), 10)
            except TimeoutError:
                raise RuntimeError(f"no frame after key {key!r}") from None
            wall, thread_cpu = pending["frame"]
            results.append((wall - start, thread_cpu - cpu))
            await asyncio.sleep(0.05)  # typing speed: keys arrive apart, not in one burst
    return results


def instrument_model_table() -> None:
    """Record when ModelTable took new rows (the moment the filter result reached the widget)."""
    show = ModelTable.show

    def timed_show(self, rows, sort):
        show(self, rows, sort)
        self.shown_at = time.perf_counter()

    ModelTable.show = timed_show


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):6.2f}  p95 {p95:6.2f}  max {ms[-1]:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    catalogue = generated_catalogue(args.models)
    instrument_model_table()
    apps = {
        "llmtui (virtual table)": (lambda: LlmTui(catalogue), "ModelTable"),
        "baseline (DataTable)": (lambda: BaselineApp(catalogue), "DataTable"),
        "floor (Input only)": (FloorApp, "#filter"),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
    for _ in range(args.rounds):  # alternate, so all see the same machine load
        for name, (make, shown_by) in apps.items():
            results[name] += asyncio.run(type_keys(make(), shown_by, KEYS))

    print(f"{len(catalogue.models)} models, {len(KEYS)} keys x {args.rounds} rounds")
    for name, values in results.items():
        print(f"  {name:24} latency {summary([v[0] for v in values])}")
        print(f"  {'':24} work    {summary([v[1] for v in values])}")
    ours, base, floor = (results[name] for name in apps)

    def median(values, i):
        return statistics.median(v[i] for v in values)

    print(f"  work ratio llmtui / baseline (median): {median(ours, 1) / median(base, 1):.3f}")
    print(f"  work ratio llmtui / floor (median):    {median(ours, 1) / median(floor, 1):.3f}")
    worst = max(v[1] for v in ours) * 1000
    print(f"  target: work per keystroke <= 16 ms -> median {median(ours, 1) * 1000:.2f} ms, "
          f"worst {worst:.2f} ms")


if __name__ == "__main__":
    main()
