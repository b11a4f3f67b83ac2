"""The cycle collector is kept off the long-lived objects while any stream runs, and only then."""

from __future__ import annotations

import gc

from tui.ui import collector


def test_frozen_while_any_holder_streams():
    chat, compare = object(), object()
    collector.hold(chat)
    frozen = gc.get_freeze_count()
    assert frozen > 0
    collector.hold(compare)
    collector.release(object())  # never held: changes nothing
    collector.release(chat)
    assert gc.get_freeze_count() >= frozen  # compare still streams
    collector.release(compare)
    assert gc.get_freeze_count() == 0
    collector.release(compare)  # twice: a no-op
    assert gc.get_freeze_count() == 0
