"""Cold start until the first catalogue row is readable: installed `llmtui` against a bare Textual app.

What a person sees: each run is a fresh process in a pseudo-terminal (120x40, set before the app
starts), and its output goes through a terminal emulator (pyte). The clock runs from spawning the
process to the arrival of the bytes that make the first row of the model table readable in full
(the header, then the first model's whole name on the line below it); for the bare app (Header, one
line of text, Footer) to the bytes that complete its line of text and its footer. Output is
collected with arrival times while the app runs and replayed through the emulator afterwards, so
the emulator's own speed never delays a timestamp.

llmtui runs as users get it: its wheel, built from the checkout and installed (not editable) into a
folder of its own, started as `python -m tui` from outside the checkout, its dependencies from this
interpreter. Both apps read compiled bytecode from one fresh cache folder, written by an unmeasured
warm-up run of each, as after any install; the warm-up also leaves llmtui's catalogue cache, as any
earlier start does. The commands alternate, N runs each, so all see the same machine load.

    .venv/bin/python bench/startup.py [--runs 10] [--before REF]

--before REF adds llmtui as of a git ref (e.g. HEAD~1, built and installed the same way), in the same
alternating run.
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
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pyte

ROOT = Path(__file__).resolve().parents[1]
COLUMNS, LINES = 120, 40
BARE_TEXT = "The first line of a bare Textual app."
BARE_APP = f'''
from textual.app import App
from textual.widgets import Footer, Header, Static

class Bare(App):
    def compose(self):
        yield Header()
        yield Static({BARE_TEXT!r})
        yield Footer()

Bare().run()
'''


def collect(argv: list[str], env: dict[str, str], cwd: Path, quiet: float = 0.4, timeout: float = 30):
    """[(seconds since spawn, bytes)] of everything the app wrote until it was quiet for `quiet` s."""
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: sizes its terminal, then becomes the app
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    chunks: list[tuple[float, bytes]] = []
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], quiet)
            if not ready:
                if chunks:
                    break
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            chunks.append((time.perf_counter() - start, data))
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return chunks


def first_row_readable(first_name: str):
    def readable(lines: list[str]) -> bool:
        for y, line in enumerate(lines[:-1]):
            start = line.find("Name ▲")
            if start >= 0:
                return lines[y + 1][start:].startswith(first_name + " ")
        return False

    return readable


def bare_readable(lines: list[str]) -> bool:
    return any(BARE_TEXT in line for line in lines) and "palette" in lines[-1]


def time_to_readable(chunks, readable) -> float:
    screen = pyte.Screen(COLUMNS, LINES)
    stream = pyte.ByteStream(screen)
    for at, data in chunks:
        stream.feed(data)
        if readable(screen.display):
            return at
    tail = "\n".join(screen.display)
    raise RuntimeError(f"never readable; the screen at the end:\n{tail}")


def install(source: Path, target: Path) -> None:
    """The package's wheel, built from `source` and installed (not editable) into `target`."""
    with tempfile.TemporaryDirectory() as dist:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, str(source)],
                       check=True)
        wheel = next(Path(dist).glob("llmtui-*.whl"))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        str(target), str(wheel)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--before", metavar="REF", help="also run llmtui as of this git ref")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tui.core.catalogue import load_catalogue

    first_name = sorted((m.name for m in load_catalogue().models), key=str.casefold)[0]
    with tempfile.TemporaryDirectory() as home:
        home = Path(home)
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")},
            "PYTHONPYCACHEPREFIX": f"{home}/pycache",
            "TERM": "xterm-256color",
            "COLUMNS": str(COLUMNS),
            "LINES": str(LINES),
            # No user settings or models file: the bundled catalogue only.
            "LLMTUI_CONFIG_DIR": f"{home}/config",
            "LLMTUI_DATA_DIR": f"{home}/data",
            "LLMTUI_CACHE_DIR": f"{home}/cache",
        }
        install(ROOT, home / "now")
        bare = home / "bare_app.py"
        bare.write_text(BARE_APP)
        readable_row = first_row_readable(first_name)
        commands = {
            "llmtui": ([sys.executable, "-m", "tui"], {**env, "PYTHONPATH": str(home / "now")},
                       readable_row),
            "bare Textual app": ([sys.executable, str(bare)], env, bare_readable),
        }
        if args.before:
            source = home / "before-src"
            source.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before],
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
            install(source, home / "before")
            commands["llmtui before"] = ([sys.executable, "-m", "tui"],
                                         {**env, "PYTHONPATH": str(home / "before")}, readable_row)
        where = subprocess.run([sys.executable, "-c", "import tui; print(tui.__file__)"], cwd=home,
                               env=commands["llmtui"][1], capture_output=True, text=True).stdout.strip()
        assert where.startswith(str(home / "now")), f"llmtui imported from {where}, not the installed wheel"
        for argv, run_env, readable in commands.values():  # bytecode and caches, not measured
            time_to_readable(collect(argv, run_env, home), readable)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (argv, run_env, readable) in commands.items():
                times[name].append(time_to_readable(collect(argv, run_env, home), readable))

    print(f"cold start until the first catalogue row is readable (installed wheel), {args.runs} runs "
          "each, alternating")
    medians = {}
    for name, values in times.items():
        wall = sorted(v * 1000 for v in values)
        medians[name] = statistics.median(wall)
        print(f"  {name:18} median {medians[name]:7.1f} ms  min {wall[0]:7.1f}  max {wall[-1]:7.1f}")
    ratio = medians["llmtui"] / medians["bare Textual app"]
    verdict = "met" if ratio <= 1.3 else "NOT met"
    print(f"  ratio llmtui / bare (median): {ratio:.2f}   target <= 1.3: {verdict}")
    if "llmtui before" in medians:
        print(f"  ratio llmtui before / bare: {medians['llmtui before'] / medians['bare Textual app']:.2f}")


if __name__ == "__main__":
    main()
