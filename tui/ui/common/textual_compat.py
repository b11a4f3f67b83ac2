"""Textual internals llmtui needs where Textual has no public API; checked against Textual 8.2.8:
`DOMNode._bindings` (a node's merged bindings; the public `active_bindings` has only the focused
chain's) and `App._keymap` (what `set_keymap` installed). tests/test_dependency_adapters.py fails
on another version: check both, then update CHECKED_VERSION.
"""

from __future__ import annotations

from textual.binding import BindingsMap
from textual.dom import DOMNode

CHECKED_VERSION = "8.2.8"


def bindings_with_keymap(node: DOMNode) -> BindingsMap:
    """A copy of `node`'s bindings with the app's keymap applied, as a key press finds them."""
    bindings = node._bindings.copy()
    if node.app._keymap:
        bindings.apply_keymap(node.app._keymap)
    return bindings
