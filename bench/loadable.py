"""What "will it load here" costs: the header check of a remote GGUF against fetching the file.

The loopback Hub (`tests/fakehub.py`, in this process) serves the SmolLM2 test model. Measured in
the same run, alternating, median of N: `loadable.check` without its cache (Range reads of the
header, the sparse copy, the child process's vocabulary-only load), and a plain GET of the whole
file through the same huggingface-hub session (the cheapest way to find out by downloading). Also
reported: the bytes each fetched.

    .venv/bin/python bench/loadable.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import SMOLLM2  # noqa: E402
from tests.fakehub import FakeHub  # noqa: E402

REPO = "bench/smollm2-GGUF"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    hub = FakeHub().start()
    os.environ["HF_ENDPOINT"] = hub.url
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    hub.add_repo(REPO, {SMOLLM2.name: SMOLLM2})

    from huggingface_hub.utils import get_session

    from tui.core.models import hub as hf
    from tui.core.models import loadable

    file = hf.list_files(REPO).files[0]
    url = f"{hub.url}/{REPO}/resolve/main/{SMOLLM2.name}"
    checks, gets, fetched = [], [], 0
    for _ in range(args.runs):
        started = time.perf_counter()
        verdict = loadable.check(file)
        checks.append(time.perf_counter() - started)
        assert verdict.loadable, verdict.reason
        fetched = verdict.fetched
        started = time.perf_counter()
        with get_session().stream("GET", url) as response:
            for _chunk in response.iter_bytes():
                pass
        gets.append(time.perf_counter() - started)
    hub.stop()
    check, get = statistics.median(checks), statistics.median(gets)
    size = SMOLLM2.stat().st_size
    print(f"file: {SMOLLM2.name}, {size / 1e6:.1f} MB, llama-cpp-python {loadable.llama_cpp_version()}")
    print(f"header check: {check * 1000:.0f} ms, {fetched / 1e6:.2f} MB fetched")
    print(f"whole file GET (loopback): {get * 1000:.0f} ms, {size / 1e6:.1f} MB")
    print(f"bytes ratio: {fetched / size:.4f}; time ratio: {check / get:.2f}")


if __name__ == "__main__":
    main()
