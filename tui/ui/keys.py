"""The bindings a node offers, as the footer, the help screen and the command palette show them.

All three are generated from the same `BINDINGS` (with the user's keymap applied), so a key added to
a screen appears everywhere without a hand-written list.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.dom import DOMNode


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
