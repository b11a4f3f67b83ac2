"""The bindings a node offers, as the footer, the help screen and the command palette show them.

All three are generated from the same `BINDINGS` (with the user's keymap applied), so a key added to
a screen appears everywhere without a hand-written list.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.dom import DOMNode
from textual.widgets import Footer


@dataclass(frozen=True)
class KeyEntry:
    keys: str  # display form, several keys joined with " / "
    binding: Binding
    node: DOMNode  # where the action runs

    @property
    def title(self) -> str:
        """A self-explaining name: the tooltip, or the footer's short description."""
        return self.binding.tooltip or self.binding.description

    async def run(self) -> None:
        await self.node.run_action(self.binding.action)


def key_entries(node: DOMNode) -> list[KeyEntry]:
    """Described bindings of ``node`` (in declaration order), one entry per action."""
    bindings = node._bindings.copy()
    # The keymap lives on the app without a public getter; it maps binding ids to keys.
    keymap = node.app._keymap
    if keymap:
        bindings.apply_keymap(keymap)
    merged: dict[tuple[str, str], tuple[list[str], Binding]] = {}
    for _key, binding in bindings:
        if not binding.description or binding.system:
            continue
        keys, _ = merged.setdefault((binding.action, binding.description), ([], binding))
        display = node.app.get_key_display(binding)
        if display not in keys:
            keys.append(display)
    return [KeyEntry(" / ".join(keys), binding, node) for keys, binding in merged.values()]


class KeyFooter(Footer, inherit_bindings=False):  # (its scroll keys: it never has focus)
    """Textual's Footer, composed with its screen and rebuilt only when what its keys show changes.

    Footer composes no keys until the screen's first bindings signal and the refresh after it, and
    rebuilds every key on each signal (a focus change sends two), ~2 ms a key even when the same
    keys show: at start-up the keys came two frames after the rest of the screen (bench/startup.py).
    A screen using it must have its bindings' enabled state right when it is composed.
    """

    def __init__(self) -> None:
        super().__init__()
        self._composed: tuple | None = None  # what the keys show, as _shown_keys() gives it
        # Footer's own flag (textual is pinned): set by its first bindings signal otherwise.
        self.set_reactive(Footer._bindings_ready, True)

    def compose(self) -> ComposeResult:
        self._composed = self._shown_keys()
        yield from super().compose()

    async def recompose(self) -> None:
        if self._shown_keys() != self._composed:
            await super().recompose()

    def _shown_keys(self) -> tuple:
        """All that the keys display of the screen's active bindings."""
        palette = self.app.COMMAND_PALETTE_BINDING
        return tuple(
            (key, binding.action, binding.description, binding.group, enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == palette
        )
