"""Python's cycle collector kept out of the way while answers stream.

A full collection walks every object the app holds (Textual's widgets and styles, the catalogue):
30-90 ms in one go on the UI thread, taken from a model whose threads take every core, with any key
pressed meanwhile waiting for it; the young collections that run every 700 new objects add a few
milliseconds an answer. While an answer streams, the objects that exist are frozen (`gc.freeze`) and
young collections wait for many more new objects; both go back to normal when the last stream ends
(see bench/README.md, "Chat").

This module is the one owner of `gc.freeze`: the app's start-up freeze (`freeze_startup`) goes
through it too. Ending the last stream unfreezes everything, the start-up objects included: an
unfreeze cannot choose, and freezing again without a full pass would keep each answer's garbage
for good.
"""

from __future__ import annotations

import gc
import threading

STREAMING_THRESHOLD = 20_000  # new objects between young collections while streaming

_holders: set[int] = set()
_lock = threading.Lock()
_thresholds: tuple[int, ...] = ()  # the collector's thresholds before the first hold


def freeze_startup() -> None:
    """What start-up built (catalogue, rows, widgets) lives long: leave it out of the full passes,
    which otherwise pause a keystroke for 25-80 ms with 10,000 models (bench/filter.py)."""
    with _lock:
        gc.freeze()


def unfreeze_all() -> None:
    """The app ends: every object goes back to the collector."""
    with _lock:
        _holders.clear()
        gc.unfreeze()
        if _thresholds:
            gc.set_threshold(*_thresholds)


def hold(owner: object) -> None:
    """`owner` streams: freeze what exists now (again, if others already hold)."""
    global _thresholds
    with _lock:
        if not _holders:
            _thresholds = gc.get_threshold()
            gc.set_threshold(STREAMING_THRESHOLD, *_thresholds[1:])
        _holders.add(id(owner))
        gc.freeze()


def release(owner: object) -> None:
    """`owner` stopped streaming (a no-op if it did not hold); the last one restores the rest."""
    with _lock:
        if id(owner) not in _holders:
            return
        _holders.discard(id(owner))
        if not _holders:
            gc.unfreeze()
            gc.set_threshold(*_thresholds)
