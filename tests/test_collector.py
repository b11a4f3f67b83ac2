"""The cycle collector is kept off the long-lived objects while any stream runs, and only then."""

from __future__ import annotations

import gc

from tui.ui.common import collector


def test_frozen_while_any_holder_streams():
    chat, compare = object(), object()
    before = gc.get_threshold()
    collector.hold(chat)
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert gc.get_threshold() == (collector.STREAMING_THRESHOLD, *before[1:])
    collector.hold(compare)
    collector.release(object())  # never held: changes nothing
    collector.release(chat)
    assert gc.get_freeze_count() >= frozen  # compare still streams
    assert gc.get_threshold()[0] == collector.STREAMING_THRESHOLD
    collector.release(compare)
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
    collector.release(compare)  # twice: a no-op
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_the_start_up_freeze_has_the_same_owner():
    before = gc.get_threshold()
    collector.freeze_startup()
    assert gc.get_freeze_count() > 0
    chat = object()
    collector.hold(chat)
    collector.unfreeze_all()  # the app ends while a stream holds
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
    collector.release(chat)  # after the end: a no-op
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
