"""Download benchmark: llmtui's download manager against `curl`, from the same loopback Hub.

1. Throughput: the SmolLM2 GGUF (98 MB) served by `tests/fakehub.py` in its own process; `curl -o`
   and the DownloadManager (which also hashes and verifies the file) fetch it in alternating turns
   (medians of N runs, and the median of the per-run ratios); once from an unthrottled loopback
   server, once paced to a 1 Gbit/s link (125 MB/s). The machine's load average is printed with
   each: the client, curl and the server share its cores with whatever else runs.
2. Resume: a download paused halfway by a server stall, picked up by a new manager (as after a
   restart): bytes the server sent for the resumed part against the bytes that were missing.
3. Progress rate: progress events per second per file the manager emits during the throughput run.

Run: .venv/bin/python bench/download.py [--runs 9]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmtui-bench-"))
    os.environ.update(HF_HUB_CACHE=str(tmp / "hub"), LLMTUI_DATA_DIR=str(tmp / "data"),
                      HF_HUB_DISABLE_TELEMETRY="1")  # fmt: skip
    for rate in (None, 125):  # raw loopback (CPU-bound), then a 1 Gbit/s link
        extra = ["--rate", str(rate)] if rate else []
        server = subprocess.Popen([sys.executable, "-m", "tests.fakehub", "--serve", str(SMOLLM2),
                                   "--repo", REPO, *extra], cwd=ROOT, stdout=subprocess.PIPE,
                                  text=True)  # fmt: skip
        try:
            url = server.stdout.readline().strip()
            os.environ["HF_ENDPOINT"] = url
            link = "unthrottled loopback" if rate is None else f"{rate} MB/s link"
            load = os.getloadavg()[0]
            print(f"-- server: {link} (load average {load:.1f} on {os.cpu_count()} cores)")
            throughput(url, tmp, args.runs)
        finally:
            server.terminate()
            server.wait()
    resume(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


def throughput(url: str, tmp: Path, runs: int) -> None:
    from tests.fakehub import sha256_of
    from tui.core.config.context import AppContext
    from tui.core.models.downloads import FileRequest, State

    size = SMOLLM2.stat().st_size
    file_url = f"{url}/{REPO}/resolve/main/{SMOLLM2.name}"
    request = FileRequest(REPO, SMOLLM2.name, size, sha256_of(SMOLLM2))

    def cpu(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    def curl() -> tuple[float, float]:
        out = tmp / "curl.gguf"
        c, t = cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(["curl", "-sS", "-o", str(out), file_url], check=True)
        elapsed = time.perf_counter() - t
        out.unlink()
        return elapsed, cpu(resource.RUSAGE_CHILDREN) - c

    def ours(events: list) -> tuple[float, float]:
        shutil.rmtree(tmp / "hub", ignore_errors=True)
        m = AppContext.load().download_manager(on_event=events.append)
        c, t = cpu(resource.RUSAGE_SELF), time.perf_counter()
        status = m.wait(m.submit(request))
        elapsed = time.perf_counter() - t
        assert status.state == State.DONE, status.message
        return elapsed, cpu(resource.RUSAGE_SELF) - c

    ours([])  # warm-up: imports and the first connection are not part of a download
    curl_s, ours_s, curl_cpu, ours_cpu, ratios, rates = [], [], [], [], [], []
    for i in range(runs):
        # Alternate which goes first, so that neither always meets the other's leftovers (page
        # cache writeback, a neighbour's burst on the shared cores).
        events: list = []
        if i % 2:
            (o, o_cpu), (c, c_cpu) = ours(events), curl()
        else:
            (c, c_cpu), (o, o_cpu) = curl(), ours(events)
        curl_s.append(c)
        ours_s.append(o)
        curl_cpu.append(c_cpu)
        ours_cpu.append(o_cpu)
        ratios.append(c / o)
        progress = [e for e in events if e.state == State.DOWNLOADING and e.done > 0]
        rates.append(len(progress) / o)
    curl_mbs, ours_mbs = (size / statistics.median(s) / 1e6 for s in (curl_s, ours_s))
    print(f"throughput: curl {curl_mbs:.0f} MB/s, llmtui {ours_mbs:.0f} MB/s "
          f"(download + sha256 + placing in the cache), ratio {statistics.median(ratios):.2f}x "
          f"(medians of {runs} alternating runs; per-run ratios "
          f"{min(ratios):.2f}-{max(ratios):.2f})")  # fmt: skip
    # With no core to spare, the ratio can be no better than the ratio of the CPU times.
    print(f"CPU time per download (user + system, medians): curl "
          f"{statistics.median(curl_cpu) * 1e3:.0f} ms, llmtui "
          f"{statistics.median(ours_cpu) * 1e3:.0f} ms")  # fmt: skip
    print(f"progress events: {max(rates):.1f} per second per file (limit 10)")


def resume(tmp: Path) -> None:
    from tests.fakehub import FakeHub, sha256_of
    from tui.core.config.context import AppContext
    from tui.core.models.downloads import FileRequest, State

    hub = FakeHub().start()
    os.environ["HF_ENDPOINT"] = hub.url
    shutil.rmtree(tmp / "hub", ignore_errors=True)
    size = SMOLLM2.stat().st_size
    hub.add_repo(REPO, {SMOLLM2.name: SMOLLM2})
    hub.fault(SMOLLM2.name, stall_after=size // 2)
    request = FileRequest(REPO, SMOLLM2.name, size, sha256_of(SMOLLM2))
    m = AppContext.load().download_manager()
    job = m.submit(request)
    while m.status(job).done < size // 2 - (1 << 20):
        time.sleep(0.01)
    m.pause(job)
    hub.release()
    m.close()
    have = (m.work_dir / f"{job}.part").stat().st_size
    hub.served.clear()
    m2 = AppContext.load().download_manager()
    m2.restore()
    m2.resume(job)
    assert m2.wait(job).state == State.DONE
    missing = size - have
    sent = hub.served[SMOLLM2.name]
    print(f"resume: missing {missing:,} bytes, server sent {sent:,} "
          f"(excess {sent - missing:,} bytes; limit 1 MiB)")  # fmt: skip
    hub.stop()


if __name__ == "__main__":
    main()
