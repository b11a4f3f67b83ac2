"""Download benchmark: llmtui's download manager against `curl`, from the same loopback Hub.

1. Throughput: the SmolLM2 GGUF (98 MB) served by `tests/fakehub.py` in its own process; `curl -o`
   and the DownloadManager (which also hashes and verifies the file) fetch it in turns, best of N;
   once from an unthrottled loopback server, once paced to a 1 Gbit/s link (125 MB/s).
2. Resume: a download paused halfway by a server stall, picked up by a new manager (as after a
   restart): bytes the server sent for the resumed part against the bytes that were missing.
3. Progress rate: progress events per second per file the manager emits during the throughput run.

Run: .venv/bin/python bench/download.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
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
    parser.add_argument("--runs", type=int, default=3)
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
            print(f"-- server: {'unthrottled loopback' if rate is None else f'{rate} MB/s link'}")
            throughput(url, tmp, args.runs)
        finally:
            server.terminate()
            server.wait()
    resume(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


def throughput(url: str, tmp: Path, runs: int) -> None:
    from tests.fakehub import sha256_of
    from tui.core.downloads import DownloadManager, FileRequest, State

    size = SMOLLM2.stat().st_size
    file_url = f"{url}/{REPO}/resolve/main/{SMOLLM2.name}"
    curl, ours, rates = [], [], []
    for _ in range(runs):
        out = tmp / "curl.gguf"
        t = time.perf_counter()
        subprocess.run(["curl", "-sS", "-o", str(out), file_url], check=True)
        curl.append(time.perf_counter() - t)
        out.unlink()

        shutil.rmtree(tmp / "hub", ignore_errors=True)
        events = []
        m = DownloadManager(on_event=events.append)
        t = time.perf_counter()
        status = m.wait(m.submit(FileRequest(REPO, SMOLLM2.name, size, sha256_of(SMOLLM2))))
        elapsed = time.perf_counter() - t
        assert status.state == State.DONE, status.message
        ours.append(elapsed)
        progress = [e for e in events if e.state == State.DOWNLOADING and e.done > 0]
        rates.append(len(progress) / elapsed)
    best_curl, best_ours = min(curl), min(ours)
    print(f"throughput: curl {size / best_curl / 1e6:.0f} MB/s, "
          f"llmtui {size / best_ours / 1e6:.0f} MB/s (download + sha256 + placing in the cache), "
          f"ratio {best_curl / best_ours:.2f}x "
          f"(best of {runs})")  # fmt: skip
    print(f"progress events: {max(rates):.1f} per second per file (limit 10)")


def resume(tmp: Path) -> None:
    from tests.fakehub import FakeHub, sha256_of
    from tui.core.downloads import DownloadManager, FileRequest, State

    hub = FakeHub().start()
    os.environ["HF_ENDPOINT"] = hub.url
    shutil.rmtree(tmp / "hub", ignore_errors=True)
    size = SMOLLM2.stat().st_size
    hub.add_repo(REPO, {SMOLLM2.name: SMOLLM2})
    hub.fault(SMOLLM2.name, stall_after=size // 2)
    request = FileRequest(REPO, SMOLLM2.name, size, sha256_of(SMOLLM2))
    m = DownloadManager()
    job = m.submit(request)
    while m.status(job).done < size // 2 - (1 << 20):
        time.sleep(0.01)
    m.pause(job)
    hub.release()
    m.close()
    have = (m.work_dir / f"{job}.part").stat().st_size
    hub.served.clear()
    m2 = DownloadManager()
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
