"""`llmtui download` and `llmtui models` as subprocesses against the loopback Hub."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakehub import fake_hub, sha256_of  # noqa: F401

REPO = "TheBloke/phi-2-GGUF"  # the catalogue maps microsoft/phi-2 here
ROOT = Path(__file__).resolve().parents[1]


def llmtui(*args, env=None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tui", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        **kw,
    )


def run(*args, env=None, timeout=120):
    p = llmtui(*args, env=env)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def test_download_prints_the_verified_path(fake_hub, smollm2, tiny_gguf):
    fake_hub.add_repo(REPO, {"phi-2.Q4_1.gguf": smollm2, "phi-2.Q2_K.gguf": tiny_gguf(["x"])})
    code, out, err = run("download", "microsoft/phi-2", "--quant", "q4_1")
    assert code == 0, err
    path = Path(out.strip())
    assert sha256_of(path) == sha256_of(smollm2)
    code, out, _ = run("models", "--json")
    listed = json.loads(out)
    assert [(m["repo_id"], m["name"], m["quant"]) for m in listed] == [
        (REPO, "phi-2.Q4_1.gguf", "Q4_1")
    ]


def test_kill_9_mid_download_then_rerun_resumes_to_a_verified_file(fake_hub, smollm2):
    from tui.core.models.downloads import _Plan

    fake_hub.add_repo(REPO, {"phi-2.Q4_1.gguf": smollm2})
    # Its 8 connections (the default) each stall after 2,000,000 bytes.
    fake_hub.fault("phi-2.Q4_1.gguf", stall_after=2_000_000, times=8)
    # --force: no header check, so every byte served is one the download wrote.
    p = llmtui("download", REPO, "--file", "phi-2.Q4_1.gguf", "--force")
    work = Path(os.environ["LLMTUI_DATA_DIR"]) / "downloads"
    deadline = time.monotonic() + 60

    def written() -> int:  # what the killed process's records say it has
        return sum(_Plan.received(r.with_suffix(".part"), r) for r in work.glob("*.ranges"))

    while not (fake_hub.peak == 8 and written() == fake_hub.served["phi-2.Q4_1.gguf"]):
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    have = written()
    assert have == 16_000_000
    fake_hub.release()
    fake_hub.served.clear()

    # The rerun over one connection (the setting), so that no piece is split at the end (which
    # abandons the bytes in flight) and the count is exact.
    config = Path(os.environ["LLMTUI_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.yaml").write_text("downloads:\n  connections: 1\n")
    code, out, err = run("download", REPO, "--file", "phi-2.Q4_1.gguf", "--force")
    assert code == 0, err
    assert sha256_of(Path(out.strip())) == sha256_of(smollm2)
    assert fake_hub.served["phi-2.Q4_1.gguf"] == smollm2.stat().st_size - have
    assert fake_hub.peak == 8  # (the first run's)
    assert not list(work.glob("*.part"))


def test_sha_mismatch_exits_non_zero_and_deletes(fake_hub, tiny_gguf):
    fake_hub.add_repo(
        REPO, {"phi-2.Q8_0.gguf": tiny_gguf(["x"])}, sha256={"phi-2.Q8_0.gguf": "cd" * 32}
    )
    code, out, err = run("download", REPO, "--quant", "Q8_0")
    assert code == 1 and out == ""
    assert "failed verification" in err and "deleted" in err
    code, out, _ = run("models", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("download", REPO, "--quant", "Q3_K_S"), "no quant Q3_K_S. Quants available: Q4_K_M"),
        (("download", "nobody/Missing-GGUF"), "was not found"),
        (("download", REPO, "--file", "../../etc/passwd"), "no file ../../etc/passwd"),
        (("download", "not a repo!"), "is not a model or repository id"),
    ],
)
def test_bad_input_exits_2_with_a_clear_line(fake_hub, tiny_gguf, args, message):
    fake_hub.add_repo(REPO, {"phi-2.Q4_K_M.gguf": tiny_gguf(["x"])})
    code, out, err = run(*args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1


def test_gated_repo_says_how_to_get_access(fake_hub, tiny_gguf):
    fake_hub.add_repo(REPO, {"phi-2.Q4_K_M.gguf": tiny_gguf(["x"])}, gated=True)
    code, _, err = run("download", REPO, "--quant", "Q4_K_M")
    assert code == 1
    assert "gated" in err and "hf auth login" in err and f"{fake_hub.url}/{REPO}" in err
    fake_hub.grant("hf_ok", REPO)
    code, out, err = run("download", REPO, "--quant", "Q4_K_M", env={"HF_TOKEN": "hf_ok"})
    assert code == 0, err


def test_no_thebloke_gguf_lists_other_publishers(fake_hub, tiny_gguf):
    fake_hub.add_repo("someone/Acme-7B-GGUF", {"acme.Q4_K_M.gguf": tiny_gguf(["x"])})
    code, _, err = run("download", "acme/Acme-7B")
    assert code == 2
    assert "TheBloke published no GGUF for acme/Acme-7B" in err and "someone/Acme-7B-GGUF" in err


def test_without_a_choice_and_no_terminal_it_asks_for_one(fake_hub, tiny_gguf):
    fake_hub.add_repo(REPO, {"phi-2.Q4_K_M.gguf": tiny_gguf(["x"])})
    code, _, err = run("download", REPO)
    assert code == 2 and "--yes to take phi-2.Q4_K_M.gguf" in err
    code, out, err = run("download", REPO, "--yes")
    assert code == 0 and out.strip().endswith("phi-2.Q4_K_M.gguf")


def test_offline_lists_and_serves_only_the_cache(fake_hub, tiny_gguf):
    fake_hub.add_repo(
        REPO,
        {"phi-2.Q4_K_M.gguf": tiny_gguf(["x"]), "phi-2.Q8_0.gguf": tiny_gguf(["y"], name="y.gguf")},
    )
    code, out, _ = run("download", REPO, "--quant", "Q4_K_M")
    assert code == 0
    before = len(fake_hub.requests)
    offline = {"HF_HUB_OFFLINE": "1"}
    code, again, _ = run("download", REPO, "--quant", "Q4_K_M", env=offline)
    assert code == 0 and again == out
    code, _, err = run("download", REPO, "--quant", "Q8_0", env=offline)
    assert code == 1 and "HF_HUB_OFFLINE" in err
    code, listed, _ = run("models", env=offline)
    assert "phi-2.Q4_K_M.gguf" in listed and "Q8_0" not in listed
    assert len(fake_hub.requests) == before


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare to mount a small tmpfs")
def test_disk_full_on_a_real_small_filesystem(fake_hub, smollm2, tmp_path):
    """A 100 MiB tmpfs holds the cache and the partial files: the 98 MB file does not fit with the
    64 MiB spare, so the download is refused before a byte is fetched."""
    fake_hub.add_repo(REPO, {"phi-2.Q4_1.gguf": smollm2})
    small = tmp_path / "small"
    small.mkdir()
    script = (
        f"mount -t tmpfs -o size=100m tmpfs {small} || exit 77; "
        f"HF_HUB_CACHE={small}/hub LLMTUI_DATA_DIR={small}/data "
        f"{sys.executable} -m tui download {REPO} --quant Q4_1 --force"  # no header check
    )
    command = ["unshare", "-m", "sh", "-c", script]
    p = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if p.returncode == 77 or "unshare failed" in p.stderr:
        pytest.skip("cannot mount a tmpfs here")
    assert p.returncode == 1
    assert "Not enough disk space" in p.stderr and "98.4 MB" in p.stderr
    assert fake_hub.gets("phi-2.Q4_1.gguf") == []
