"""Cold start to the first painted screen: `llmtui` against a bare Textual app (Header + Footer).

Each run is a fresh process in a pseudo-terminal (120x40, set before the app starts), exactly as
a user starts it: `python -m tui` (what the `llmtui` script runs) and `python <bare app>`. The
time is from spawning the process to the moment the first frame's footer ("palette", drawn by
both apps) arrives on the terminal; the CPU time the process used until then is reported too (it
varies less with other load on the machine). The two alternate, N runs each, so both see the same
machine load. Both read compiled bytecode from one fresh cache folder, written by an unmeasured
warm-up run of each, as after any install (with PYTHONDONTWRITEBYTECODE set, which some shells
do, llmtui's own modules would be compiled from source on every start and the bare app's
pre-compiled Textual would not). The warm-up also leaves llmtui's catalogue cache (JSON, in the
run's own LLMTUI_CACHE_DIR), as any earlier start does.

    .venv/bin/python bench/startup.py [--runs 10] [--before DIR]

--before DIR adds a third command, `python -m tui` run in DIR (e.g. the committed code, from
`git archive HEAD | tar -x -C DIR`), alternating with the other two in the same run.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = b"palette"  # the footer's command-palette hint: part of the first frame of both apps
BARE_APP = '''
from textual.app import App
from textual.widgets import Footer, Header

class Bare(App):
    def compose(self):
        yield Header()
        yield Footer()

Bare().run()
'''


def time_to_first_frame(
    argv: list[str], env: dict[str, str], cwd: Path = ROOT, timeout: float = 60
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the app) from spawning it to its first frame."""
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: sizes its terminal, then becomes the app
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    seen = b""
    elapsed = None
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
                if MARKER in seen:
                    elapsed = time.perf_counter() - start
                    break
        if elapsed is None:
            raise RuntimeError(f"{argv}: no first frame; output tail: {seen[-400:]!r}")
    finally:
        os.kill(pid, signal.SIGKILL)
        _, _, usage = os.wait4(pid, 0)
        os.close(fd)
    return elapsed, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--before", type=Path, help="also run `python -m tui` in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PYTHONPYCACHEPREFIX": f"{home}/pycache",
            "TERM": "xterm-256color",
            "COLUMNS": "120",
            "LINES": "40",
            # No user settings or models file: the bundled catalogue only.
            "LLMTUI_CONFIG_DIR": f"{home}/config",
            "LLMTUI_DATA_DIR": f"{home}/data",
            "LLMTUI_CACHE_DIR": f"{home}/cache",
        }
        bare = Path(home) / "bare_app.py"
        bare.write_text(BARE_APP)
        commands = {
            "llmtui": ([sys.executable, "-m", "tui"], ROOT),
            "bare Textual app": ([sys.executable, str(bare)], ROOT),
        }
        if args.before:
            commands["llmtui before"] = ([sys.executable, "-m", "tui"], args.before.resolve())
        for argv, cwd in commands.values():  # warm the disk cache and the bytecode, not measured
            time_to_first_frame(argv, env, cwd)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (argv, cwd) in commands.items():
                times[name].append(time_to_first_frame(argv, env, cwd))

    print(f"cold start to first painted screen, {args.runs} runs each, alternating")
    medians = {}
    for name, values in times.items():
        wall = sorted(v[0] * 1000 for v in values)
        cpu = sorted(v[1] * 1000 for v in values)
        medians[name] = (statistics.median(wall), statistics.median(cpu))
        print(f"  {name:18} wall median {medians[name][0]:7.1f} ms  min {wall[0]:7.1f}  "
              f"max {wall[-1]:7.1f}   CPU median {medians[name][1]:7.1f} ms")
    ours, bare = medians["llmtui"], medians["bare Textual app"]
    ratio = ours[0] / bare[0]
    print(f"  ratio llmtui / bare (median wall): {ratio:.2f}   target <= 1.3: "
          f"{'met' if ratio <= 1.3 else 'NOT met'}   (CPU: {ours[1] / bare[1]:.2f})")
    if "llmtui before" in medians:
        before = medians["llmtui before"]
        print(f"  ratio llmtui before / bare: {before[0] / bare[0]:.2f} wall, "
              f"{before[1] / bare[1]:.2f} CPU")


if __name__ == "__main__":
    main()
