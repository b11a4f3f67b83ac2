"""LocalBackend: real llama-cpp-python in a worker process, with tiny deterministic GGUFs and SmolLM2."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import gguf
import numpy as np
import psutil
import pytest

from tui.core.engine.base import DoneEvent, EngineError, LoadOptions, Message, SamplingOptions, TokenEvent
from tui.core.engine.local import LocalBackend

HOSTILE = ["Hello", ", ", "[bold]", "world", "[/]", "\x1b[2J", "```py", "你好", "🙂"]
ASK = [Message("user", "Say it.")]


def run(backend, messages=ASK, **sampling):
    events = list(backend.stream(messages, SamplingOptions(**sampling)))
    assert isinstance(events[-1], DoneEvent) and all(isinstance(e, TokenEvent) for e in events[:-1])
    return "".join(e.text for e in events[:-1]), events[-1].stats


@pytest.fixture
def open_backend():
    opened = []

    def make(path, **kw):
        backend = LocalBackend(path, **kw)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


def test_streams_the_exact_text_and_stats(tiny_gguf, open_backend):
    backend = open_backend(tiny_gguf(HOSTILE), load=LoadOptions(n_ctx=256))
    info = backend.load()
    assert info.template_source == "gguf" and not info.template_is_guess
    assert info.context_size == 256 and info.architecture == "llama"
    text, stats = run(backend)
    assert text == "".join(HOSTILE)
    assert stats.finish_reason == "stop"
    assert stats.completion_tokens == len(HOSTILE)
    assert stats.prompt_tokens == backend.count_tokens(ASK)
    assert stats.context_used == stats.prompt_tokens + stats.completion_tokens
    assert stats.context_size == 256
    assert stats.time_to_first_token is not None and stats.time_to_first_token > 0
    # Generation is timed in the worker (the model's pace), within the request's own time.
    assert 0 < stats.generation_seconds < stats.total_seconds - stats.time_to_first_token + 0.01
    assert stats.tokens_per_second is not None


def test_max_tokens_ends_with_length(tiny_gguf, open_backend):
    backend = open_backend(tiny_gguf(HOSTILE))
    text, stats = run(backend, max_tokens=3)
    assert text == "Hello, [bold]"
    assert (stats.finish_reason, stats.completion_tokens) == ("length", 3)


def test_answer_stops_when_the_context_is_full(tiny_gguf, open_backend):
    script = [f"w{i} " for i in range(400)]
    backend = open_backend(tiny_gguf(script), load=LoadOptions(n_ctx=256))
    n_ctx = backend.load().context_size  # llama.cpp rounds the context up to a multiple of 256
    prompt = backend.count_tokens(ASK)
    text, stats = run(backend, max_tokens=0)
    assert stats.finish_reason == "context"
    assert stats.context_used == n_ctx
    assert text == "".join(script[: n_ctx - prompt])


def test_prompt_longer_than_the_context_is_refused(tiny_gguf, open_backend):
    backend = open_backend(tiny_gguf(HOSTILE), load=LoadOptions(n_ctx=256))
    n_ctx = backend.load().context_size
    with pytest.raises(EngineError) as caught:
        run(backend, [Message("user", "x" * 2 * n_ctx)])
    assert caught.value.kind == "context"
    assert f"context holds {n_ctx}" in caught.value.message
    assert run(backend)[0] == "".join(HOSTILE)  # still usable


def test_text_stop_strings_of_a_family_template_end_the_answer(tiny_gguf, open_backend):
    # Vicuna stops at "USER:", which is not a special token: the scanner cuts it out of the text.
    backend = open_backend(tiny_gguf(["Sure", ".", "\nUSER:", " more"]), template="vicuna")
    text, stats = run(backend)
    assert (text, stats.finish_reason) == ("Sure.\n", "stop")


def test_stop_mid_answer_and_go_on(tiny_gguf, open_backend):
    script = [f"t{i} " for i in range(3000)]
    backend = open_backend(tiny_gguf(script), load=LoadOptions(n_ctx=4096))
    backend.load()
    received = []
    stats = None
    for event in backend.stream(ASK, SamplingOptions(max_tokens=0)):
        if isinstance(event, TokenEvent):
            received.append(event.text)
            backend.stop()
        else:
            stats = event.stats
    text = "".join(received)
    full = "".join(script)
    assert stats.finish_reason == "cancelled"
    assert full.startswith(text) and len(text) < len(full)
    assert backend.restarts == 0  # stopped by the per-token flag, the model stayed loaded
    assert run(backend, max_tokens=5)[0] == "".join(script[:5])


def test_cancel_event_stops_the_stream(tiny_gguf, open_backend):
    backend = open_backend(tiny_gguf([f"t{i} " for i in range(3000)]), load=LoadOptions(n_ctx=4096))
    cancel = threading.Event()
    stream = backend.stream(ASK, SamplingOptions(max_tokens=0), cancel)
    assert isinstance(next(stream), TokenEvent)
    cancel.set()
    events = list(stream)
    assert events[-1].stats.finish_reason == "cancelled"


def _sends(backend, script):
    """The answer's TokenEvents (one per message from the worker) and its stats."""
    events = list(backend.stream(ASK, SamplingOptions(max_tokens=0)))
    tokens = events[:-1]
    assert "".join(e.text for e in tokens) == "".join(script)
    return tokens, events[-1].stats


def test_text_comes_seldom_while_the_model_takes_every_core(tiny_gguf, open_backend):
    # Each message wakes threads in the app; with no core free that stalls the model's threads.
    from tui.core.engine.base import usable_cores

    script = [f"w{i} " for i in range(600)]
    backend = open_backend(
        tiny_gguf(script), load=LoadOptions(n_ctx=1024, n_threads=usable_cores())
    )
    assert backend.load().takes_every_core
    tokens, stats = _sends(backend, script)
    assert tokens[0].text == script[0]  # the first token still goes at once
    # Then a few messages a second at most (worker.FLUSH_SECONDS_NO_SPARE_CORE), and the end.
    assert len(tokens) <= 2 + stats.generation_seconds * 4


def test_text_comes_often_while_a_core_is_free(tiny_gguf, open_backend):
    from tui.core.engine.base import usable_cores

    if usable_cores() < 2:
        pytest.skip("needs a core beside the model's thread")
    script = [f"w{i} " for i in range(600)]
    backend = open_backend(tiny_gguf(script), load=LoadOptions(n_ctx=1024, n_threads=1))
    assert not backend.load().takes_every_core
    tokens, stats = _sends(backend, script)
    assert tokens[0].text == script[0]
    assert len(tokens) > 2 + stats.generation_seconds * 4


def test_stop_during_prompt_processing_ends_the_worker_and_reloads(smollm2, open_backend):
    backend = open_backend(smollm2, load=LoadOptions(n_ctx=4096))
    backend.load()
    first_pid = backend._process.pid
    long_prompt = [
        Message("user", "Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 300)
    ]
    result = {}

    def answer():
        result["events"] = list(backend.stream(long_prompt, SamplingOptions(max_tokens=8)))

    thread = threading.Thread(target=answer)
    thread.start()
    while not backend._prompt_phase.value and thread.is_alive():
        time.sleep(0.001)
    backend.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert result["events"][-1].stats.finish_reason == "cancelled"
    assert backend.restarts == 1 and _ended(first_pid)
    text, stats = run(backend, [Message("user", "Hi")], max_tokens=4, temperature=0)
    assert stats.completion_tokens >= 1 and backend._process.pid != first_pid


def _ended(pid: int) -> bool:
    """Whether the process ends (a zombie waiting to be reaped counts), waiting up to 10 s."""
    for _ in range(1000):
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.01)
    return False


def test_count_tokens_answers_while_an_answer_streams(tiny_gguf, open_backend):
    backend = open_backend(tiny_gguf([f"t{i} " for i in range(2000)]), load=LoadOptions(n_ctx=4096))
    expected = backend.count_tokens(ASK)
    stream = backend.stream(ASK, SamplingOptions(max_tokens=0))
    next(stream)
    assert backend.count_tokens(ASK) == expected
    backend.stop()
    list(stream)


def test_close_ends_the_worker_and_frees_its_memory(tiny_gguf):
    backend = LocalBackend(tiny_gguf(HOSTILE))
    assert backend.pid is None  # not loaded yet
    backend.load()
    pid = backend.pid
    # The pid is the worker's: the process that holds the model file open.
    worker = psutil.Process(pid)
    assert pid != os.getpid() and worker.ppid() == os.getpid()
    assert any(f.path == str(backend.path) for f in worker.memory_maps())
    backend.close()
    assert backend.pid is None
    assert _ended(pid)
    with pytest.raises(EngineError):
        backend.load()


def test_smollm2_answers_with_its_embedded_chatml_template(smollm2, open_backend):
    backend = open_backend(smollm2, load=LoadOptions(n_ctx=1024))
    info = backend.load()
    assert (info.template_name, info.template_source) == ("gguf", "gguf")
    assert info.gpu_offload_supported in (True, False)
    assert isinstance(info.offload_report, tuple) and info.n_layers == 30
    messages = [
        Message("system", "Answer in one word."),
        Message("user", "What colour is the sky?"),
    ]
    text, stats = run(backend, messages, max_tokens=12, temperature=0, seed=1)
    assert text.strip()
    assert stats.prompt_tokens == backend.count_tokens(messages)
    assert stats.finish_reason in ("stop", "length")
    assert "<|im_end|>" not in text and "<|im_start|>" not in text


def test_family_fallback_when_the_gguf_has_no_template(tiny_gguf, open_backend):
    path = tiny_gguf(HOSTILE, chat_template=None, name="Mistral 7B Instruct v0.2")
    info = open_backend(path).load()
    assert (info.template_name, info.template_source, info.template_is_guess) == (
        "mistral",
        "family",
        True,
    )
    assert "guessed" in info.template_reason


def test_set_template_switches_without_reloading(tiny_gguf, open_backend):
    backend = open_backend(tiny_gguf(HOSTILE))
    backend.load()
    pid = backend._process.pid
    before = backend.count_tokens(ASK)
    info = backend.set_template("alpaca")
    assert (info.template_name, info.template_source) == ("alpaca", "user")
    assert backend.count_tokens(ASK) > before  # Alpaca's default system prompt is long
    assert backend._process.pid == pid
    with pytest.raises(EngineError):
        backend.set_template("no-such-format")


# -- bad files ------------------------------------------------------------------------------------


def test_not_a_gguf_is_refused_without_a_worker(tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_bytes(b"hello, I am not a model" * 10)
    backend = LocalBackend(path)
    with pytest.raises(EngineError) as caught:
        backend.load()
    assert caught.value.kind == "bad_file" and "not a GGUF" in caught.value.message
    assert backend._process is None


def test_missing_file(tmp_path):
    with pytest.raises(EngineError) as caught:
        LocalBackend(tmp_path / "nope.gguf").load()
    assert caught.value.kind == "not_found"


def test_truncated_download_is_named_as_such(smollm2, tmp_path):
    path = tmp_path / "half.gguf"
    data = smollm2.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EngineError) as caught:
        LocalBackend(path).load()
    assert caught.value.kind == "bad_file" and "truncated" in caught.value.message


def test_unknown_architecture_is_unsupported(tmp_path):
    path = _write_gguf(tmp_path / "odd.gguf", arch="nosucharch")
    with pytest.raises(EngineError) as caught:
        LocalBackend(path).load()
    assert caught.value.kind == "unsupported"
    assert "nosucharch" in caught.value.message


def test_native_abort_while_loading_is_an_error_not_a_crash_of_the_caller(tmp_path):
    # A vocabulary without byte-fallback tokens makes llama.cpp throw in C++: the process aborts.
    path = _write_gguf(tmp_path / "nobytes.gguf", arch="llama")
    with pytest.raises(EngineError) as caught:
        LocalBackend(path).load()
    assert caught.value.kind == "bad_file"
    assert "crashed" in caught.value.message and "SIGABRT" in caught.value.message
    assert "what():" in caught.value.message  # llama.cpp's own reason, from the worker's output


def test_worker_output_leaves_no_file_even_when_the_app_is_killed(tiny_gguf, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = (
        "import sys, time\n"
        "from tui.core.engine.local import LocalBackend\n"
        "backend = LocalBackend(sys.argv[1])\n"
        "backend.load()\n"
        "print('loaded', flush=True)\n"
        "time.sleep(60)\n"
    )
    app = subprocess.Popen(
        [sys.executable, "-c", script, str(tiny_gguf(HOSTILE))],
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout.readline().strip() == "loaded"
        assert not list(scratch.glob("llmtui-worker-*"))  # named only until the worker opened it
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait()
    assert not list(scratch.glob("llmtui-worker-*"))


def test_worker_dying_mid_answer_is_reported_and_the_next_answer_restarts_it(
    tiny_gguf, open_backend
):
    backend = open_backend(tiny_gguf([f"t{i} " for i in range(3000)]), load=LoadOptions(n_ctx=4096))
    stream = backend.stream(ASK, SamplingOptions(max_tokens=0))
    first = next(stream)
    backend._process.kill()
    with pytest.raises(EngineError) as caught:
        list(stream)
    assert caught.value.kind == "crashed"
    assert caught.value.partial.startswith(first.text)
    assert run(backend, max_tokens=2)[0] == "t0 t1 "


def test_a_model_too_large_for_memory_is_refused_before_loading(tiny_gguf):
    # 10^8 tokens of context: a KV cache of ~100 GB, more than this machine has.
    path = tiny_gguf(HOSTILE, context_length=100_000_000)
    backend = LocalBackend(path, LoadOptions(n_ctx=100_000_000))
    with pytest.raises(EngineError) as caught:
        backend.load()
    assert caught.value.kind == "too_large"
    assert "context" in caught.value.message
    assert backend._process is None


def _write_gguf(path: Path, arch: str) -> Path:
    """A minimal llama-shaped GGUF whose vocabulary has no byte tokens."""
    tokens = ["<unk>", "<s>", "</s>", "a", "b", "c"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [
        gguf.TokenType.NORMAL
    ] * 3
    n, e = len(tokens), 32
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("odd")
    writer.add_context_length(64)
    writer.add_embedding_length(e)
    writer.add_block_count(1)
    writer.add_feed_forward_length(8)
    writer.add_head_count(1)
    writer.add_head_count_kv(1)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * n)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_tensor("token_embd.weight", np.zeros((n, e), np.float32))
    writer.add_tensor("output_norm.weight", np.ones(e, np.float32))
    writer.add_tensor("output.weight", np.zeros((n, e), np.float32))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(e, np.float32))
    for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
        writer.add_tensor(f"blk.0.{part}.weight", np.zeros((e, e), np.float32))
    writer.add_tensor("blk.0.ffn_norm.weight", np.ones(e, np.float32))
    writer.add_tensor("blk.0.ffn_gate.weight", np.zeros((8, e), np.float32))
    writer.add_tensor("blk.0.ffn_up.weight", np.zeros((8, e), np.float32))
    writer.add_tensor("blk.0.ffn_down.weight", np.zeros((e, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
