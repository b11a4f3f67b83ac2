"""Untrusted text (model output, model cards, file and repo names, server errors) stays text.

The UI renders strings as `Text`/`Content` (never markup); this module removes what a terminal would
interpret: escape sequences (CSI, OSC, DCS, ...) and C0/C1 control characters other than newline and tab.
"""

from __future__ import annotations

import re

# ESC-introduced sequences: CSI (ESC [ ... final), OSC/DCS/PM/APC/SOS (terminated by BEL or ESC \),
# and two-character escapes. Their 8-bit C1 forms too.
_ESCAPES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]            # CSI
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])     # OSC, DCS, SOS, PM, APC ...
        .*?(?:\x07|\x1b\\|\x9c|$)               # ... up to their terminator
  | \x1b[@-Z\\-_]                               # two-character escapes
  | \x1b                                        # a lone ESC
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Text safe to show in a terminal: escape sequences and control characters removed."""
    text = text.replace("\r\n", "\n")
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def one_line(text: str, limit: int = 200) -> str:
    """A cleaned single line, for titles, notifications and table cells."""
    line = " ".join(clean(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
