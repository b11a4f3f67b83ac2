"""Helpers for Pilot tests."""

from __future__ import annotations


async def until(pilot, condition, what: str = "the screen never got there", steps: int = 1500) -> None:
    """Let the app run until `condition()` holds (bounded, so a broken feature fails instead of hanging)."""
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never happened: {what}")
