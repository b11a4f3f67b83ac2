"""Download benchmark: llmtui's download manager against curl (one connection) and aria2c (eight),
side by side in one run, from the same loopback Hub, on the same file.

1. Throughput: a file of `--mb` MB (420 by default) served by `tests/fakehub.py` in its own process
   (sendfile); `curl -o`, `aria2c -x8 -s8 -k1M` and the DownloadManager (which also hashes and
   verifies the file and places it in the HF cache; 8 connections, the default, and 1 on the
   unthrottled link) fetch it in turns whose order rotates (medians of N runs, and the median of
   the per-run ratios); (a) from an unthrottled loopback server, (b) with the server capping each
   connection at 20 MB/s (as a CDN caps one connection). CPU time (user + system) per download for
   each. The machine's load average is printed with each: the clients and the server share its
   cores with whatever else runs. aria2c is a benchmark tool only (`apt-get install -y aria2`);
   without it that column says it is missing.
2. Resume: a download paused halfway by a server stall, picked up by a new manager (as after a
   restart): bytes the server sent for the resumed part against the bytes that were missing.
3. Progress rate: progress events per second per file the manager emits during the throughput run.

Run: .venv/bin/python bench/download.py [--runs 3] [--mb 420]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SMOLLM2 = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
REPO = "bench/bench-GGUF"
CAP = 20  # MB/s per connection in (b)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=420, help="size of the file served")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmtui-bench-"))
    os.environ.update(HF_HUB_CACHE=str(tmp / "hub"), LLMTUI_DATA_DIR=str(tmp / "data"),
                      HF_HUB_DISABLE_TELEMETRY="1")  # fmt: skip
    served = make_file(tmp / "big.Q4_K_M.gguf", args.mb * 10**6)
    if shutil.which("aria2c") is None:
        print("aria2c is MISSING (apt-get install -y aria2): no 8-connection reference this run")
    for rate in (None, CAP):
        extra = ["--rate", str(rate)] if rate else []
        server = subprocess.Popen([sys.executable, "-m", "tests.fakehub", "--serve", str(served),
                                   "--repo", REPO, *extra], cwd=ROOT, stdout=subprocess.PIPE,
                                  text=True)  # fmt: skip
        try:
            url = server.stdout.readline().strip()
            os.environ["HF_ENDPOINT"] = url
            link = "(a) unthrottled loopback" if rate is None else f"(b) {rate} MB/s per connection"
            print(f"-- {link}, {served.stat().st_size / 1e6:.0f} MB file "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")  # fmt: skip
            throughput(url, served, tmp, args.runs, single=rate is None)
        finally:
            server.terminate()
            server.wait()
    resume(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


def make_file(path: Path, size: int) -> Path:
    """The SmolLM2 GGUF's bytes repeated up to `size` (content does not matter to a download)."""
    block = SMOLLM2.read_bytes()
    with path.open("wb") as f:
        left = size
        while left > 0:
            f.write(block[:left])
            left -= len(block)
    return path


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def throughput(url: str, served: Path, tmp: Path, runs: int, single: bool) -> None:
    from tests.fakehub import sha256_of
    from tui.core.config.context import AppContext
    from tui.core.models.downloads import FileRequest, State

    size = served.stat().st_size
    file_url = f"{url}/{REPO}/resolve/main/{served.name}"
    request = FileRequest(REPO, served.name, size, sha256_of(served))
    progress_rates: list[float] = []

    def tool(*argv: str) -> tuple[float, float]:
        out = tmp / "tool.out"
        c, t = cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run([*argv], check=True, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - t
        out.unlink()
        return elapsed, cpu(resource.RUSAGE_CHILDREN) - c

    def curl() -> tuple[float, float]:
        return tool("curl", "-sS", "-o", str(tmp / "tool.out"), file_url)

    def aria2c() -> tuple[float, float]:
        return tool("aria2c", "-q", "-x8", "-s8", "-k1M", "--file-allocation=none",
                    "--allow-overwrite=true", "-d", str(tmp), "-o", "tool.out", file_url)  # fmt: skip

    def ours(connections: int) -> tuple[float, float]:
        shutil.rmtree(tmp / "hub", ignore_errors=True)
        events: list = []
        m = AppContext.load().download_manager(connections=connections, on_event=events.append)
        c, t = cpu(resource.RUSAGE_SELF), time.perf_counter()
        status = m.wait(m.submit(request))
        elapsed = time.perf_counter() - t
        assert status.state == State.DONE, status.message
        progress = [e for e in events if e.state == State.DOWNLOADING and e.done > 0]
        progress_rates.append(len(progress) / elapsed)
        return elapsed, cpu(resource.RUSAGE_SELF) - c

    clients = {"curl (1 connection)": curl}
    if shutil.which("aria2c"):
        clients["aria2c -x8 -s8 -k1M"] = aria2c
    clients["llmtui, 8 connections"] = lambda: ours(8)
    if single:
        clients["llmtui, 1 connection"] = lambda: ours(1)
    ours(8)  # warm-up: imports and the first connections are not part of a download
    names = list(clients)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for i in range(runs):
        # Rotate who goes first, so that none always meets another's leftovers (page cache
        # writeback, a neighbour's burst on the shared cores).
        for name in names[i % len(names):] + names[: i % len(names)]:
            elapsed, used = clients[name]()
            wall[name].append(elapsed)
            cpus[name].append(used)
    ref = {n: wall[n] for n in names if not n.startswith("llmtui")}
    for name in names:
        mbs = size / statistics.median(wall[name]) / 1e6
        line = f"  {name:24} {mbs:7.0f} MB/s  CPU {statistics.median(cpus[name]):6.2f} s"
        if name.startswith("llmtui"):
            for other, times in ref.items():
                ratios = [o / w for o, w in zip(times, wall[name], strict=True)]
                line += (f"  {statistics.median(ratios):.2f}x {other.split()[0]}"
                         f" ({min(ratios):.2f}-{max(ratios):.2f})")  # fmt: skip
        print(line)
    print(f"  (medians of {runs} rotating runs; llmtui's time includes the sha256 and placing the "
          f"file in the cache; progress events {max(progress_rates):.1f}/s per file, limit 10)")  # fmt: skip


def resume(tmp: Path) -> None:
    """Eight connections stall after 5,000,000 bytes each; pause, close, restart, resume."""
    from tests.fakehub import FakeHub, sha256_of
    from tui.core.config.context import AppContext
    from tui.core.models.downloads import FileRequest, State

    hub = FakeHub().start()
    os.environ["HF_ENDPOINT"] = hub.url
    shutil.rmtree(tmp / "hub", ignore_errors=True)
    size = SMOLLM2.stat().st_size
    hub.add_repo(REPO, {SMOLLM2.name: SMOLLM2})
    hub.fault(SMOLLM2.name, stall_after=5_000_000, times=8)
    request = FileRequest(REPO, SMOLLM2.name, size, sha256_of(SMOLLM2))
    m = AppContext.load().download_manager()
    job = m.submit(request)
    while m.status(job).done < 40_000_000:
        time.sleep(0.01)
    m.pause(job)
    hub.release()
    m.close()
    hub.served.clear()
    m2 = AppContext.load().download_manager()
    m2.restore()
    have = m2.status(job).done
    m2.resume(job)
    assert m2.wait(job).state == State.DONE
    missing = size - have
    sent = hub.served[SMOLLM2.name]
    print(f"resume (8 connections): missing {missing:,} bytes, server sent {sent:,} (excess "
          f"{sent - missing:,} bytes: what was in flight when a piece was split at the end)")  # fmt: skip
    hub.stop()


if __name__ == "__main__":
    main()
