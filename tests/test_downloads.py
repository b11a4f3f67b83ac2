"""The download manager against the loopback Hub, with the real huggingface-hub client."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from tests.fakehub import fake_hub, sha256_of  # noqa: F401
from tui.core.config.paths import app_paths
from tui.core.models import hub as hubmod
from tui.core.models.downloads import DownloadError, DownloadManager, FileRequest, State, clean_orphans

REPO = "TheBloke/Tiny-GGUF"


@pytest.fixture
def tiny(tiny_gguf):
    return tiny_gguf(["Hello", " world"], name="tiny.Q8_0.gguf", layers=2)


def request_for(hub, repo: str, name: str) -> FileRequest:
    f = hub.repos[repo].files[name]
    return FileRequest(repo, name, f.size, f.sha256)


class Recorder:
    def __init__(self) -> None:
        self.events = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)

    def __call__(self, status) -> None:
        with self.cond:
            self.events.append(status)
            self.cond.notify_all()

    def states(self):
        return [e.state for e in self.events]

    def wait_for(self, predicate, timeout: float = 30) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: any(predicate(e) for e in self.events), timeout)


def until(condition, timeout: float = 30) -> None:
    """Wait for a condition of the manager's state (polled: progress events are coalesced)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def manager(tmp_path, rec=None, **kw) -> DownloadManager:
    kw.setdefault("backoff", 0.05)
    return DownloadManager(work_dir=tmp_path / "work", on_event=rec, **kw)


def test_download_lands_in_the_hf_cache_verified(fake_hub, smollm2, tmp_path):
    from huggingface_hub import hf_hub_download, scan_cache_dir

    fake_hub.add_repo(REPO, {"smol.Q4_1.gguf": smollm2})
    m = manager(tmp_path)
    job = m.submit(request_for(fake_hub, REPO, "smol.Q4_1.gguf"))
    status = m.wait(job, 60)
    assert status.state == State.DONE, status.message
    assert sha256_of(status.path) == sha256_of(smollm2)
    # The cache's own layout: blobs/<sha256>, a snapshot link, refs/main; other tools see the file.
    assert status.path.is_symlink()
    assert status.path.resolve().name == sha256_of(smollm2)
    cache = hubmod.cache_dir()
    assert (status.path.parents[2] / "refs" / "main").read_text() == fake_hub.repos[REPO].commit
    repos = scan_cache_dir(cache).repos
    assert [(r.repo_id, r.size_on_disk) for r in repos] == [(REPO, smollm2.stat().st_size)]
    found = hf_hub_download(REPO, "smol.Q4_1.gguf", cache_dir=cache, local_files_only=True)
    assert Path(found) == status.path
    assert not list((tmp_path / "work").glob("*.part"))


def test_a_cached_file_is_not_fetched_again(fake_hub, tiny, tmp_path):
    fake_hub.add_repo(REPO, {"tiny.Q8_0.gguf": tiny})
    m = manager(tmp_path)
    first = m.wait(m.submit(request_for(fake_hub, REPO, "tiny.Q8_0.gguf")), 30)
    second_manager = manager(tmp_path)
    again = second_manager.wait(
        second_manager.submit(request_for(fake_hub, REPO, "tiny.Q8_0.gguf"))
    )
    assert again.state == State.DONE and again.path == first.path
    assert len(fake_hub.gets("tiny.Q8_0.gguf")) == 1


def test_dropped_connection_resumes_and_refetches_only_missing_bytes(fake_hub, smollm2, tmp_path):
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    fake_hub.fault("smol.gguf", drop_after=40_000_000)
    rec = Recorder()
    m = manager(tmp_path, rec, connections=1)
    status = m.wait(m.submit(request_for(fake_hub, REPO, "smol.gguf")), 60)
    assert status.state == State.DONE, status.message
    assert State.RETRYING in rec.states()  # the user saw it
    size = smollm2.stat().st_size
    assert fake_hub.gets("smol.gguf") == [f"bytes=0-{size - 1}", f"bytes=40000000-{size - 1}"]
    assert fake_hub.served["smol.gguf"] == size  # not a byte twice
    assert fake_hub.peak == 1


@pytest.fixture
def no_splits(monkeypatch):
    """Pieces are never split at the end: a split abandons the bytes in flight on the slow
    connection, which would blur the exact byte counts these tests check."""
    from tui.core.models.downloads import _Plan

    monkeypatch.setattr(_Plan, "MIN_SPLIT", 1 << 62)


def test_parallel_parts_with_a_drop_in_one_part(fake_hub, smollm2, tmp_path, no_splits):
    from huggingface_hub import scan_cache_dir

    size = smollm2.stat().st_size
    piece = 8 << 20
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    fake_hub.fault("smol.gguf", drop_after=3_000_000)  # the first piece's connection drops
    fake_hub.fault("smol.gguf", stall_after=1_000_000, times=4)  # the next four wait together
    rec = Recorder()
    m = manager(tmp_path, rec, connections=4, piece_size=piece)
    job = m.submit(request_for(fake_hub, REPO, "smol.gguf"))
    until(lambda: fake_hub.active == 4)  # four connections at once: no timing, a count
    fake_hub.release()
    status = m.wait(job, 60)
    assert status.state == State.DONE, status.message
    assert sha256_of(status.path) == sha256_of(smollm2)
    assert [(r.repo_id, r.size_on_disk) for r in scan_cache_dir(hubmod.cache_dir()).repos] == [
        (REPO, size)
    ]
    ranges = fake_hub.gets("smol.gguf")
    assert ranges[0] == f"bytes=0-{piece - 1}"
    assert f"bytes=3000000-{piece - 1}" in ranges  # the dropped piece resumed where it broke
    assert fake_hub.served["smol.gguf"] == size  # every byte once, the drop and the stalls too
    assert fake_hub.peak == 4
    retrying = [e for e in rec.events if e.state == State.RETRYING]
    assert retrying and all(e.retry_in is not None for e in retrying)
    assert rec.events[-1].total == size and rec.events[-1].done == size  # progress: the whole file
    assert not list((tmp_path / "work").glob(f"{job}.*[!k]"))  # part, ranges and journal gone


def test_kill_9_mid_download_resumes_at_the_exact_byte(fake_hub, smollm2, tmp_path, no_splits):
    import os
    import signal
    import subprocess
    import sys

    size = smollm2.stat().st_size
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    fake_hub.fault("smol.gguf", stall_after=2_000_000, times=4)
    request = request_for(fake_hub, REPO, "smol.gguf")
    child = subprocess.Popen(
        [sys.executable, "-c", f"""
import sys, time
from tui.core.models.downloads import DownloadManager, FileRequest
m = DownloadManager(work_dir={str(tmp_path / "work")!r}, connections=4, piece_size=8 << 20)
job = m.submit(FileRequest(*{(request.repo_id, request.filename, request.size, request.sha256)!r}))
while True:
    print(m.status(job).done, flush=True)
    time.sleep(0.02)
"""],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    try:
        # Four connections, each stalled after 2,000,000 bytes, all of them written.
        for line in child.stdout:
            if fake_hub.active == 4 and int(line) == fake_hub.served["smol.gguf"] == 8_000_000:
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    fake_hub.clear_faults()
    fake_hub.release()
    fake_hub.served.clear()

    m = manager(tmp_path)
    assert m.restore() == [request.id]
    done = m.wait(request.id, 60)
    assert done.state == State.DONE, done.message
    assert sha256_of(done.path) == sha256_of(smollm2)
    assert fake_hub.served["smol.gguf"] == size - 8_000_000  # 0 bytes fetched twice


def test_idle_connections_split_a_slow_piece(fake_hub, smollm2, tmp_path):
    piece = 8 << 20
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    fake_hub.fault("smol.gguf", stall_after=1_000_000)  # the first piece's connection hangs
    m = manager(tmp_path, connections=4, piece_size=piece, stall_seconds=2)
    status = m.wait(m.submit(request_for(fake_hub, REPO, "smol.gguf")), 60)
    assert status.state == State.DONE, status.message
    assert sha256_of(status.path) == sha256_of(smollm2)
    # The others took the second half of what it still wanted, while it hung.
    middle = 1_000_000 + (piece - 1_000_000) // 2
    assert f"bytes={middle}-{piece - 1}" in fake_hub.gets("smol.gguf")
    fake_hub.release()


def test_a_server_that_refuses_ranges_gets_one_connection(fake_hub, smollm2, tmp_path):
    size = smollm2.stat().st_size
    fake_hub.ranges = False
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    m = manager(tmp_path, connections=4, piece_size=8 << 20)
    status = m.wait(m.submit(request_for(fake_hub, REPO, "smol.gguf")), 60)
    assert status.state == State.DONE, status.message
    assert sha256_of(status.path) == sha256_of(smollm2)
    assert fake_hub.peak == 1 and len(fake_hub.gets("smol.gguf")) == 1
    assert fake_hub.served["smol.gguf"] == size  # its first answer was the whole file

    # A drop: it cannot resume, so the file starts over (and is still verified).
    m.close()
    m = manager(tmp_path / "again", connections=4, piece_size=8 << 20)
    from tui.core.models import library

    for model in library.scan(app_paths()).models:
        library.delete(app_paths(), model)
    fake_hub.served.clear()
    fake_hub.fault("smol.gguf", drop_after=5_000_000)
    again = m.wait(m.submit(request_for(fake_hub, REPO, "smol.gguf")), 60)
    assert again.state == State.DONE, again.message
    assert sha256_of(again.path) == sha256_of(smollm2)
    assert fake_hub.served["smol.gguf"] == size + 5_000_000 and fake_hub.peak == 1


def test_stall_is_detected_and_retried(fake_hub, tiny, tmp_path):
    fake_hub.add_repo(REPO, {"tiny.Q8_0.gguf": tiny})
    fake_hub.fault("tiny.Q8_0.gguf", stall_after=0, stall_seconds=30)
    rec = Recorder()
    m = manager(tmp_path, rec, stall_seconds=0.5)
    status = m.wait(m.submit(request_for(fake_hub, REPO, "tiny.Q8_0.gguf")), 30)
    assert status.state == State.DONE, status.message
    retry = next(e for e in rec.events if e.state == State.RETRYING)
    assert "stopped answering" in retry.message and retry.retry_in is not None


def test_server_errors_and_rate_limits_are_retried(fake_hub, tiny, tmp_path):
    fake_hub.add_repo(REPO, {"tiny.Q8_0.gguf": tiny})
    fake_hub.fault("tiny.Q8_0.gguf", status=500, times=2)
    fake_hub.fault("tiny.Q8_0.gguf", status=429, retry_after="0", times=1, methods=("HEAD",))
    rec = Recorder()
    m = manager(tmp_path, rec)
    status = m.wait(m.submit(request_for(fake_hub, REPO, "tiny.Q8_0.gguf")), 30)
    assert status.state == State.DONE, status.message
    messages = [e.message for e in rec.events if e.state == State.RETRYING]
    assert any("429" in msg for msg in messages) and any("500" in msg for msg in messages)


def test_gives_up_after_the_retries_with_a_clear_message(fake_hub, tiny, tmp_path):
    fake_hub.add_repo(REPO, {"tiny.Q8_0.gguf": tiny})
    fake_hub.fault("tiny.Q8_0.gguf", status=503, times=100, methods=("HEAD",))
    m = manager(tmp_path, retries=2)
    status = m.wait(m.submit(request_for(fake_hub, REPO, "tiny.Q8_0.gguf")), 30)
    assert status.state == State.FAILED
    assert "gave up after 2 retries" in status.message and "503" in status.message


def test_connection_refused(monkeypatch, tiny, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    m = manager(tmp_path, retries=1)
    status = m.wait(m.submit(FileRequest(REPO, "tiny.gguf", 10, "0" * 64)), 30)
    assert status.state == State.FAILED and "Cannot connect" in status.message


def test_sha_mismatch_deletes_the_file(fake_hub, tiny, tmp_path):
    from tui.core.models import library

    fake_hub.add_repo(REPO, {"tiny.Q8_0.gguf": tiny}, sha256={"tiny.Q8_0.gguf": "ab" * 32})
    m = manager(tmp_path)
    status = m.wait(m.submit(request_for(fake_hub, REPO, "tiny.Q8_0.gguf")), 30)
    assert status.state == State.FAILED
    assert "failed verification" in status.message and "deleted" in status.message
    assert not list((tmp_path / "work").iterdir()) or not list((tmp_path / "work").glob("*.part"))
    assert library.scan(app_paths()).models == ()  # never offered for chat


def test_not_enough_disk_space_refuses_before_fetching(fake_hub, smollm2, tmp_path):
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    m = manager(tmp_path, free_space=lambda path: 10 << 20, spare=0)
    status = m.wait(m.submit(request_for(fake_hub, REPO, "smol.gguf")), 30)
    assert status.state == State.FAILED
    assert "Not enough disk space" in status.message and "98.4 MB" in status.message
    assert fake_hub.gets("smol.gguf") == []


def test_disk_check_counts_downloads_in_flight(fake_hub, tiny_gguf, tmp_path):
    a = tiny_gguf(["a"], name="a.gguf")
    b = tiny_gguf(["b"], name="b.gguf")
    fake_hub.add_repo(REPO, {"a.gguf": a, "b.gguf": b})
    fake_hub.fault("a.gguf", stall_after=1000)
    free = a.stat().st_size + b.stat().st_size // 2
    rec = Recorder()
    m = manager(tmp_path, rec, free_space=lambda path: free, spare=0)
    first = m.submit(request_for(fake_hub, REPO, "a.gguf"))
    rec.wait_for(lambda e: e.id == first and e.state == State.DOWNLOADING and e.message is None)
    second = m.wait(m.submit(request_for(fake_hub, REPO, "b.gguf")), 30)
    assert second.state == State.FAILED and "Not enough disk space" in second.message
    fake_hub.release()
    m.close()


@pytest.mark.parametrize(
    "name", ["../../evil.gguf", "/etc/evil.gguf", "a/../../b.gguf", "a\\..\\b.gguf"]
)
def test_path_traversal_is_refused(tmp_path, name):
    m = manager(tmp_path)
    with pytest.raises(DownloadError, match="unsafe"):
        m.submit(FileRequest(REPO, name, 1, "0" * 64))


def test_pause_resume_and_restart_resume_only_missing_bytes(fake_hub, smollm2, tmp_path):
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    fake_hub.fault("smol.gguf", stall_after=30_000_000)
    rec = Recorder()
    m = manager(tmp_path, rec, connections=1)
    job = m.submit(request_for(fake_hub, REPO, "smol.gguf"))
    until(lambda: m.status(job).done >= 28 << 20)
    m.pause(job)
    paused = m.wait(job, 30)
    assert paused.state == State.PAUSED
    fake_hub.release()
    m.close()  # the first "process" is gone (its worker may have written the piece in hand)
    fake_hub.served.clear()

    # A new process: the paused download is listed, and resumes with a Range request.
    m2 = manager(tmp_path, connections=1)
    assert m2.restore() == [job]
    have = m2.status(job).done
    assert m2.status(job).state == State.PAUSED and have >= 28 << 20
    m2.resume(job)
    done = m2.wait(job, 60)
    assert done.state == State.DONE, done.message
    assert fake_hub.gets("smol.gguf")[-1] == f"bytes={have}-{smollm2.stat().st_size - 1}"
    assert fake_hub.served["smol.gguf"] == smollm2.stat().st_size - have
    assert sha256_of(done.path) == sha256_of(smollm2)


def test_cancel_deletes_the_partial_file(fake_hub, smollm2, tmp_path):
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    fake_hub.fault("smol.gguf", stall_after=5_000_000)
    rec = Recorder()
    m = manager(tmp_path, rec)
    job = m.submit(request_for(fake_hub, REPO, "smol.gguf"))
    until(lambda: m.status(job).done > 0)
    m.cancel(job)
    assert m.wait(job, 30).state == State.CANCELLED
    assert not list((tmp_path / "work").glob(f"{job}.*[!k]"))  # .part and .json gone
    fake_hub.release()


def test_concurrency_limit_queues_the_rest(fake_hub, tiny_gguf, tmp_path):
    names = [f"m{i}.gguf" for i in range(3)]
    fake_hub.add_repo(REPO, {n: tiny_gguf([n], name=n) for n in names})
    for n in names:
        fake_hub.fault(n, stall_after=100)
    rec = Recorder()
    m = manager(tmp_path, rec, concurrency=2)
    ids = [m.submit(request_for(fake_hub, REPO, n)) for n in names]
    # The two workers start in either order: wait for both.
    for started in ids[:2]:
        rec.wait_for(lambda e, i=started: e.id == i and e.state == State.DOWNLOADING and e.message is None)
    assert [m.status(i).state for i in ids] == [State.DOWNLOADING, State.DOWNLOADING, State.QUEUED]
    fake_hub.release()
    assert all(m.wait(i, 30).state == State.DONE for i in ids)


def test_gated_repo_explains_how_to_get_access(fake_hub, tiny, tmp_path, monkeypatch):
    fake_hub.add_repo(REPO, {"tiny.Q8_0.gguf": tiny}, gated=True)
    m = manager(tmp_path)
    status = m.wait(m.submit(request_for(fake_hub, REPO, "tiny.Q8_0.gguf")), 30)
    assert status.state == State.FAILED
    assert "gated" in status.message and "hf auth login" in status.message
    assert f"{fake_hub.url}/{REPO}" in status.message

    fake_hub.grant("hf_granted", REPO)
    monkeypatch.setenv("HF_TOKEN", "hf_granted")
    m.resume(status.id)
    assert m.wait(status.id, 30).state == State.DONE


def test_saved_login_token_is_used(fake_hub, tiny, tmp_path, monkeypatch):
    from huggingface_hub import constants

    token_file = tmp_path / "token"
    token_file.write_text("hf_saved")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(token_file))
    fake_hub.add_repo(REPO, {"tiny.Q8_0.gguf": tiny}, gated=True)
    fake_hub.grant("hf_saved", REPO)
    m = manager(tmp_path)
    assert m.wait(m.submit(request_for(fake_hub, REPO, "tiny.Q8_0.gguf")), 30).state == State.DONE


def test_offline_mode_answers_from_the_cache_only(fake_hub, tiny, tmp_path, monkeypatch):
    fake_hub.add_repo(REPO, {"tiny.Q8_0.gguf": tiny, "other.gguf": tiny})
    m = manager(tmp_path)
    done = m.wait(m.submit(request_for(fake_hub, REPO, "tiny.Q8_0.gguf")), 30)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(fake_hub.requests)
    cached = m.wait(m.submit(request_for(fake_hub, REPO, "tiny.Q8_0.gguf")), 30)
    assert cached.state == State.DONE and cached.path == done.path
    missing = m.wait(m.submit(request_for(fake_hub, REPO, "other.gguf")), 30)
    assert missing.state == State.FAILED and "HF_HUB_OFFLINE" in missing.message
    assert len(fake_hub.requests) == before


def test_orphaned_partial_files_are_cleaned(tmp_path):
    from filelock import FileLock

    cache = tmp_path / "hub"
    blobs = cache / "models--a--b" / "blobs"
    blobs.mkdir(parents=True)
    orphan = blobs / f"{'1' * 64}.deadbeef.incomplete"
    orphan.write_bytes(b"x" * 100)
    live = blobs / f"{'2' * 64}.cafecafe.incomplete"
    live.write_bytes(b"y" * 10)
    lock_dir = cache / ".locks" / "models--a--b"
    lock_dir.mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / "stray.part").write_bytes(b"z" * 5)
    (work / "kept.part").write_bytes(b"k" * 7)
    (work / "kept.json").write_text("{}")
    with FileLock(lock_dir / f"{'2' * 64}.lock"):
        assert clean_orphans(cache, work) == 105
    assert not orphan.exists() and live.exists()
    assert (work / "kept.part").exists() and not (work / "stray.part").exists()


def test_progress_events_are_coalesced(fake_hub, smollm2, tmp_path):
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    rec = Recorder()
    m = manager(tmp_path, rec, rate=2.0)
    status = m.wait(m.submit(request_for(fake_hub, REPO, "smol.gguf")), 60)
    assert status.state == State.DONE
    progress = [e for e in rec.events if e.state == State.DOWNLOADING and e.message is None]
    chunks = smollm2.stat().st_size >> 20
    assert 0 < len(progress) < chunks  # far fewer events than the ~94 chunks written
    assert rec.events[-1].done == smollm2.stat().st_size
    assert hashlib.sha256(status.path.read_bytes()).hexdigest() == sha256_of(smollm2)


def sha256_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "sha256"}


def test_a_stall_still_reports_what_arrived(fake_hub, smollm2, tmp_path):
    # Reads take up to 1 MiB at a time, but only what has arrived: the 300,000 bytes the server
    # sent before going silent are counted (and written) while it stalls, not held back waiting
    # for a full read.
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    fake_hub.fault("smol.gguf", stall_after=300_000)
    before = sha256_threads()  # (another test's download may still be winding down)
    m = manager(tmp_path, connections=1)
    job = m.submit(request_for(fake_hub, REPO, "smol.gguf"))
    until(lambda: m.status(job).done == 300_000)
    fake_hub.release()
    done = m.wait(job, 60)
    assert done.state == State.DONE, done.message
    assert fake_hub.served["smol.gguf"] == smollm2.stat().st_size  # nothing fetched twice
    assert sha256_threads() <= before  # the hashing thread ends with the download


def test_pausing_ends_the_hashing_thread(fake_hub, smollm2, tmp_path):
    fake_hub.add_repo(REPO, {"smol.gguf": smollm2})
    fake_hub.fault("smol.gguf", stall_after=20_000_000)
    before = sha256_threads()
    m = manager(tmp_path, connections=1)
    job = m.submit(request_for(fake_hub, REPO, "smol.gguf"))
    until(lambda: m.status(job).done >= 19 << 20)
    assert sha256_threads() - before  # hashing while the bytes arrive
    m.pause(job)
    fake_hub.release()
    m.close()
    assert sha256_threads() <= before


@pytest.mark.parametrize(
    "sizes",
    [
        [],
        [1],
        [100, 5000, 4 << 20, 3, (4 << 20) + 7, 64 << 10],  # around the 4 MiB block
        [4096] * 700,  # small pieces of a slow link
    ],
)
def test_threaded_hash_follows_the_file(tmp_path, sizes):
    import random

    from tui.core.models.downloads import _Hasher

    rng = random.Random(len(sizes))
    part = tmp_path / "x.part"
    part.touch()
    hasher = _Hasher(part)

    def append(data: bytes) -> None:
        with part.open("ab") as f:
            f.write(data)
        hasher.advance_to(hasher.size + len(data))

    pieces = [rng.randbytes(n) for n in sizes]
    for piece in pieces:
        append(piece)
    assert hasher.size == sum(sizes)
    assert hasher.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    # It goes on after a digest (a new thread), and starts over after a reset.
    append(b"more" * 300_000)
    whole = b"".join(pieces) + b"more" * 300_000
    assert hasher.hexdigest() == hashlib.sha256(whole).hexdigest()
    append(b"x" * (5 << 20))
    part.write_bytes(b"")
    hasher.reset()
    append(b"y" * 10)
    assert (hasher.size, hasher.hexdigest()) == (10, hashlib.sha256(b"y" * 10).hexdigest())


@pytest.mark.parametrize("size", [1, 5 << 20, (8 << 20) * 3, (8 << 20) * 3 + (3 << 20), 31_000_000])
def test_pieces_tile_the_file_around_what_arrived(tmp_path, size):
    import random

    from tui.core.models.downloads import _Plan

    rng = random.Random(size)
    part, ranges = tmp_path / "x.part", tmp_path / "x.ranges"
    arrived = sorted(rng.sample(range(size), min(size, 6)))
    spans = [(a, min(size, a + rng.randrange(1, 3 << 20))) for a in arrived[::2]]
    ranges.write_bytes(b"".join(_Plan.RECORD.pack(a, b, b) for a, b in spans))
    plan = _Plan.open(part, ranges, size, 8 << 20)
    try:
        pieces = [(p.start, p.end) for p in plan.pieces]
        assert pieces[0][0] == 0 and pieces[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))  # tiled
        mask = bytearray(size)
        for a, b in spans:
            mask[a:b] = b"\1" * (b - a)
        assert plan.done == mask.count(1) == _Plan.received(part, ranges)
        assert all(p.end - p.start <= (8 << 20) * 3 // 2 for p in plan.pieces if p.pos == p.start)
    finally:
        plan.close()

