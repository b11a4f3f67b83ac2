"""Textual internals llmtui needs where Textual has no public API; checked against Textual 8.2.8.

- `DOMNode._bindings`: a node's bindings map (its class's and its bases' `BINDINGS`, merged); the
  public `active_bindings` lists only the focused chain's.
- `App._keymap`: the keymap `App.set_keymap` installed (normalised key names); no getter.

tests/test_dependency_adapters.py fails on any other Textual version: check both against the new
version, then update CHECKED_VERSION.
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
