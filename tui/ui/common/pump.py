"""The one way high-rate data goes from threads to the UI (streamed answers, download progress),
paced one way.

Threads `put` items under a key (chat has one answer; compare a key per column and prompt; the
download service one for every download's statuses); they never touch a widget. While a pump
runs, it calls its `drain` on the UI at most RENDERS_PER_SECOND times a second, and less often when
rendering gets costly (a long answer re-lays out more): the UI thread spends at most `share` of a
core on it, so it never takes the CPU a model needs. The share is small when the model's threads
take every core, since then each cycle the UI spends is one the model waits for (bench/README.md,
"Chat"). `wake()` drains at once (the first token: the time to first token stays the engine's). A
`park`ed pump starts again when something is put, from any thread (a download moving on in its
worker). While a `TextPump` runs, the cycle collector is kept out of the way
(`tui.ui.common.collector`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable

from textual import events
from textual.dom import DOMNode

from tui.core.engine.base import ModelInfo
from tui.ui.common import collector

RENDERS_PER_SECOND = 25
# While text streams, the UI thread may use this share of one core for it; renders slow down
# to stay within it. With a core to spare the model loses nothing to the UI; when its threads take
# every core, a render preempts one of them and the others wait for it at the next barrier.
UI_SHARE = 0.1
UI_SHARE_NO_SPARE_CORE = 0.02
SLOWEST_RENDER = 1.0  # seconds: whatever renders cost, the data moves at least this often


def ui_share(infos: Iterable[ModelInfo | None]) -> float:
    """The share of a core the UI may spend rendering these models' answers."""
    every_core = any(info is not None and info.takes_every_core for info in infos)
    return UI_SHARE_NO_SPARE_CORE if every_core else UI_SHARE


class Pump:
    """Items put by threads, drained on the UI by `drain()` (which calls `take_items`)."""

    def __init__(self, node: DOMNode, drain: Callable[[], Awaitable[None]]) -> None:
        self._node = node
        self._drain = drain
        self._pending: dict[Hashable, list] = {}
        self._lock = threading.Lock()
        self._parked = False  # the next `put` starts it
        self._timer = None
        self._cpu = 0.0  # the UI thread's CPU time when the last drain began
        self._share = UI_SHARE
        self._draining = asyncio.Lock()  # a drain awaits renders: the next one waits for it

    @property
    def running(self) -> bool:
        return self._timer is not None

    def put(self, key: Hashable, item: object) -> None:
        """From any thread."""
        with self._lock:
            self._pending.setdefault(key, []).append(item)
            start, self._parked = self._parked, False
        if start:  # post_message is thread-safe: the node starts the pump on its own loop
            self._node.post_message(events.Callback(callback=self.start))

    def take_items(self, key: Hashable) -> list:
        """What was put under `key` since it was last taken, in order."""
        with self._lock:
            return self._pending.pop(key, [])

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def start(self, share: float = UI_SHARE) -> None:
        """Drain paced from now on (on the UI)."""
        self._share = share
        if self._timer is None:
            self._cpu = time.thread_time()
            self._timer = self._node.set_timer(1 / RENDERS_PER_SECOND, self._tick)

    async def stop(self) -> None:
        """Stop pacing, after a last drain of what is left (on the UI)."""
        self.close()
        await self.wake()

    def close(self) -> None:
        """No more drains (the node goes)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def park(self) -> None:
        """No more drains until something is put (on the UI: nothing is left to show)."""
        with self._lock:
            if any(self._pending.values()):
                return  # put meanwhile: the next drain takes it
            self._parked = True
        self.close()

    async def wake(self) -> None:
        """Drain now, after a drain in progress (a timer's callback runs beside the messages)."""
        async with self._draining:
            await self._drain()

    async def _tick(self) -> None:
        """Drain, then come back after the time the UI thread's work since the last drain earns."""
        now = time.thread_time()
        spent, self._cpu = now - self._cpu, now
        await self.wake()
        if self._timer is not None:
            delay = min(SLOWEST_RENDER, max(1 / RENDERS_PER_SECOND, spent / self._share))
            self._timer = self._node.set_timer(delay, self._tick)


class TextPump(Pump):
    """Streamed text, joined when taken; while it runs, the cycle collector waits."""

    def take(self, key: Hashable) -> str:
        """What was put under `key` since it was last taken."""
        return "".join(self.take_items(key))

    def start(self, share: float = UI_SHARE) -> None:
        collector.hold(self)
        super().start(share)

    def close(self) -> None:
        super().close()
        collector.release(self)
