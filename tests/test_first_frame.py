"""What a person sees first: `llmtui` in a real pseudo-terminal, its output read by a terminal emulator.

The model table's first painted rows must already be readable (names in full), not cut to the width the
table had before its first layout and redrawn a frame later.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

import pyte

COLUMNS, LINES = 120, 40


def first_table_row(env: dict[str, str]) -> str:
    """The model table's first row, as it is in the first frame that shows it."""
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        os.execvpe(sys.executable, [sys.executable, "-m", "tui"], env)
    screen = pyte.Screen(COLUMNS, LINES)
    stream = pyte.ByteStream(screen)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                stream.feed(os.read(fd, 65536))
            except OSError:
                break
            lines = screen.display
            for y, line in enumerate(lines[:-1]):
                start = line.find("Name ▲")
                if start >= 0:
                    row = lines[y + 1][start:].split("│")[0].strip()
                    if row:
                        return row
        raise AssertionError("the model table never showed a row")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def test_the_first_frame_shows_whole_names(isolated_dirs, catalogue):
    env = {**os.environ, "TERM": "xterm-256color"}
    row = first_table_row(env)
    names = sorted((model.name for model in catalogue.models), key=str.casefold)
    assert "…" not in row and row.startswith(names[0] + " "), row
