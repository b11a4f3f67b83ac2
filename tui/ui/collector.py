"""Python's cycle collector kept off the app's long-lived objects while answers stream.

A full collection walks every object the app holds (Textual's widgets and styles, the catalogue):
measured at 90 ms in one go on the UI thread, taken from a model whose threads take every core, with
any key pressed meanwhile waiting for it. While an answer streams, the objects that exist are frozen
(`gc.freeze`): young objects are still collected, the long-lived heap is not walked, and it all goes
back to the collector when the last stream ends (see bench/README.md, "Chat").
"""

from __future__ import annotations

import gc
import threading

_holders: set[int] = set()
_lock = threading.Lock()


def hold(owner: object) -> None:
    """`owner` streams: freeze what exists now (again, if others already hold)."""
    with _lock:
        _holders.add(id(owner))
        gc.freeze()


def release(owner: object) -> None:
    """`owner` stopped streaming (a no-op if it did not hold); the last one unfreezes."""
    with _lock:
        if id(owner) not in _holders:
            return
        _holders.discard(id(owner))
        if not _holders:
            gc.unfreeze()
