"""RemoteBackend against llama-cpp-python's real server, and against one that fails on purpose."""

from __future__ import annotations

import json
import logging
import sys
import threading

import pytest

from tests.conftest import SMOLLM2, TINY
from tests.faultserver import (
    DEFAULT_PIECES,
    STANDARD_FIELDS,
    FaultServer,
    free_port,
)
from tests.tiny_gguf import write_tiny_gguf
from tui.core.config.context import AppContext
from tui.core.config.paths import app_paths
from tui.core.config.settings import Endpoint, Settings
from tui.core.engine.base import DoneEvent, EngineError, Message, SamplingOptions, TokenEvent
from tui.core.engine.remote import (
    DEFAULT_CONTEXT,
    RemoteBackend,
    list_models,
    open_remote,
)
from tui.core.engine.resolve import is_remote, open_backend

QUESTION = [Message("user", "What is 2+2?")]
GREEDY = SamplingOptions(temperature=0.0, max_tokens=32, seed=1)


def answer(backend, messages=QUESTION, sampling=GREEDY, cancel=None) -> tuple[str, DoneEvent]:
    events = list(backend.stream(messages, sampling, cancel))
    assert isinstance(events[-1], DoneEvent)
    assert all(isinstance(e, TokenEvent) for e in events[:-1])
    return "".join(e.text for e in events[:-1]), events[-1]


# -- llama-cpp-python's server (the `llama_server` fixture is in conftest.py) -----------------


@pytest.mark.inference
def test_tiny_model_answers_exactly_through_the_real_server(llama_server):
    with RemoteBackend(llama_server, "tiny") as backend:
        info = backend.load()
        text, done = answer(backend)
    assert text == "".join(TINY)
    assert info.location == f"{llama_server}#tiny" and info.template_source == "server"
    assert backend.label == f"tiny @ {llama_server.split('/')[2]}"
    stats = done.stats
    assert stats.finish_reason == "stop"
    assert stats.completion_tokens == len(
        TINY
    )  # llama-cpp-python sends no usage: one chunk a token
    assert stats.time_to_first_token is not None and stats.tokens_per_second is not None
    assert stats.prompt_tokens > 0 and not backend.count_is_estimate  # its /extras/tokenize/count


@pytest.mark.inference
def test_smollm2_chats_through_the_real_server(llama_server):
    with RemoteBackend(llama_server, "smollm2") as backend:
        backend.load()
        text, done = answer(backend, sampling=SamplingOptions(max_tokens=12, seed=7))
        # The conversation goes on: the answer comes back as the assistant's turn.
        follow = [*QUESTION, Message("assistant", text), Message("user", "And 3+3?")]
        text2, done2 = answer(backend, follow, SamplingOptions(max_tokens=8, seed=7))
    assert text.strip() and text2.strip()
    assert 1 <= done.stats.completion_tokens <= 12 and done.stats.finish_reason in (
        "stop",
        "length",
    )
    assert done2.stats.prompt_tokens > done.stats.prompt_tokens


@pytest.mark.inference
def test_count_tokens_uses_the_servers_tokenizer(llama_server):
    from llama_cpp import Llama

    vocab = Llama(model_path=str(SMOLLM2), vocab_only=True, verbose=False)
    text = "Counting tokens, remotely: 日本語 too."
    with RemoteBackend(llama_server, "smollm2") as backend:
        count = backend.count_tokens([Message("user", text)])
    assert not backend.count_is_estimate
    # The server's tokenizer on the text, plus the few tokens a chat template adds around a message.
    assert count == len(vocab.tokenize(text.encode(), special=True)) + 4


@pytest.mark.inference
def test_stop_mid_answer_leaves_the_real_server_usable(llama_server):
    with RemoteBackend(llama_server, "smollm2") as backend:
        backend.load()
        stream = backend.stream(QUESTION, SamplingOptions(max_tokens=400, seed=3))
        first = next(stream)
        assert isinstance(first, TokenEvent)
        threading.Thread(target=backend.stop).start()
        rest = list(stream)
        assert rest[-1].stats.finish_reason == "cancelled"
        assert rest[-1].stats.completion_tokens < 400
        _, done = answer(backend, sampling=SamplingOptions(max_tokens=4, seed=3))
    assert done.stats.finish_reason == "length"


def test_unknown_model_lists_what_the_real_server_has(llama_server):
    # llama-cpp-python quietly answers with its default model for any name: load() must catch it.
    with pytest.raises(EngineError) as caught:
        RemoteBackend(llama_server, "llama-70b").load()
    assert caught.value.kind == "not_found"
    assert "'llama-70b'" in caught.value.message and "tiny, smollm2" in caught.value.message
    assert list_models(llama_server) == ["tiny", "smollm2"]


def test_prompt_beyond_the_servers_context_is_explained(llama_server):
    # llama-cpp-python answers 200 and then ends the stream at once (tiny runs with n_ctx 512).
    with RemoteBackend(llama_server, "tiny") as backend:
        with pytest.raises(EngineError) as caught:
            answer(backend, [Message("user", "word " * 600)])
    assert "before its first token" in caught.value.message and "context" in caught.value.message


@pytest.mark.inference
def test_same_tiny_model_local_and_remote_give_the_same_text(llama_server, tmp_path):
    local = pytest.importorskip("tui.core.engine.local")
    from tui.core.engine.base import LoadOptions

    path = write_tiny_gguf(tmp_path / "tiny.gguf", TINY)
    with (
        local.LocalBackend(path, LoadOptions(n_ctx=512)) as here,
        RemoteBackend(llama_server, "tiny") as there,
    ):
        here.load()
        there.load()
        local_text, _ = answer(here)
        remote_text, _ = answer(there)
    assert local_text == remote_text == "".join(TINY)


# -- faults ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault():
    with FaultServer() as server:
        yield server


def failure(backend: RemoteBackend, *, load: bool = False) -> EngineError:
    with pytest.raises(EngineError) as caught:
        if load:
            backend.load()
        else:
            answer(backend)
    return caught.value


def test_usage_from_the_server_fills_the_stats(fault):
    text, done = answer(RemoteBackend(fault.url, "ok"))
    assert text == "".join(DEFAULT_PIECES)
    assert (done.stats.prompt_tokens, done.stats.completion_tokens) == (7, len(DEFAULT_PIECES))
    assert done.stats.context_used == 7 + len(DEFAULT_PIECES)


def test_429_is_retried_then_answers(fault):
    before = fault.hits["flaky"]
    text, _ = answer(RemoteBackend(fault.url, "flaky"))
    assert text == "".join(DEFAULT_PIECES)
    assert fault.hits["flaky"] - before == 2


def test_500_fails_after_retries(fault):
    before = fault.hits["broken"]
    error = failure(RemoteBackend(fault.url, "broken", max_retries=2))
    assert error.kind == "server" and "error 500" in error.message and "3 tries" in error.message
    assert fault.hits["broken"] - before == 3


def test_stream_cut_midway_keeps_the_partial_answer(fault):
    error = failure(RemoteBackend(fault.url, "cut"))
    assert error.partial == "".join(DEFAULT_PIECES[:2])
    assert error.kind == "network" and "closed the connection midway" in error.message
    assert "cut" in error.message and "kept" in error.message


def test_stream_ending_without_a_finish_is_marked_cut(fault):
    error = failure(RemoteBackend(fault.url, "eof"))
    assert error.kind == "server" and "cut off" in error.message
    assert error.partial == "".join(DEFAULT_PIECES[:2])


def test_malformed_event_is_a_server_error_with_the_partial_answer(fault):
    error = failure(RemoteBackend(fault.url, "malformed"))
    assert (
        error.kind == "server"
        and "malformed" in error.message
        and error.partial == DEFAULT_PIECES[0]
    )


def test_error_event_in_the_stream_is_reported_cleaned(fault):
    error = failure(RemoteBackend(fault.url, "error_event"))
    assert error.kind == "server" and "the model crashed" in error.message
    assert "\x1b" not in error.message and error.partial == DEFAULT_PIECES[0]


def test_silent_server_times_out_keeping_the_partial_answer(fault):
    error = failure(RemoteBackend(fault.url, "stall", timeout=0.3))
    assert error.kind == "network" and "timed out" in error.message
    assert error.partial == DEFAULT_PIECES[0]


def test_stop_from_another_thread_ends_a_silent_stream(fault):
    backend = RemoteBackend(fault.url, "stall", timeout=120)
    stream = backend.stream(QUESTION, GREEDY)
    assert next(stream) == TokenEvent(DEFAULT_PIECES[0])
    threading.Timer(0.1, backend.stop).start()
    (done,) = list(stream)  # without the stop this read waits for the 120 s timeout and fails
    assert done.stats.finish_reason == "cancelled" and done.stats.completion_tokens == 1


def test_cancel_event_stops_between_chunks():
    with FaultServer(delay=0.01) as slow:
        cancel = threading.Event()
        backend = RemoteBackend(slow.url, "ok")
        received = []
        for event in backend.stream(QUESTION, GREEDY, cancel):
            if isinstance(event, TokenEvent):
                received.append(event.text)
                cancel.set()
            else:
                done = event
    assert received == [DEFAULT_PIECES[0]] and done.stats.finish_reason == "cancelled"


def test_unknown_model_at_load_lists_the_servers_models(fault):
    error = failure(RemoteBackend(fault.url, "gpt-9"), load=True)
    assert error.kind == "not_found" and "'gpt-9'" in error.message and "ok, flaky" in error.message


def test_404_model_while_streaming_lists_the_servers_models(fault):
    error = failure(RemoteBackend(fault.url, "gpt-9"))
    assert error.kind == "not_found" and "ok, flaky" in error.message


def test_wrong_base_url_says_where_the_api_usually_is(fault):
    error = failure(RemoteBackend(f"http://127.0.0.1:{fault.port}/api", "ok"), load=True)
    assert error.kind == "not_found" and "/v1" in error.message


def test_context_size_is_the_servers_or_the_default(fault):
    assert RemoteBackend(fault.url, "ok").load().context_size == 8192  # vLLM's max_model_len
    info = RemoteBackend(fault.url, "flaky").load()
    assert info.context_size == DEFAULT_CONTEXT and not info.context_reported


def test_url_without_a_path_gets_v1(fault):
    backend = RemoteBackend(f"http://127.0.0.1:{fault.port}", "ok")
    assert backend.base_url == fault.url
    assert backend.load().name == "ok"


def test_connection_refused():
    error = failure(
        RemoteBackend(f"http://127.0.0.1:{free_port()}/v1", "m", max_retries=0), load=True
    )
    assert error.kind == "network" and "refused" in error.message


def test_dns_failure():
    error = failure(
        RemoteBackend("http://llmtui-test.invalid:8080/v1", "m", max_retries=0), load=True
    )
    assert (
        error.kind == "network"
        and "llmtui-test.invalid" in error.message
        and "DNS" in error.message
    )


def test_tls_error(fault):
    error = failure(
        RemoteBackend(f"https://127.0.0.1:{fault.port}/v1", "m", max_retries=0), load=True
    )
    assert error.kind == "network" and "TLS" in error.message


def test_strict_server_gets_only_standard_fields_after_refusing_the_extras():
    with FaultServer(strict=True) as strict:
        backend = RemoteBackend(strict.url, "ok")
        first, _ = answer(backend)
        second, done = answer(backend)
        bodies = [body for path, _, body in strict.requests if path == "/v1/chat/completions"]
    assert first == second == "".join(DEFAULT_PIECES)
    assert "stream_options" in bodies[0] and "top_k" in bodies[0]  # asked once with the extras
    assert len(bodies) == 3 and all(set(b) <= STANDARD_FIELDS for b in bodies[1:])
    # No usage without stream_options: tokens are counted, the prompt estimated.
    assert done.stats.completion_tokens == len(DEFAULT_PIECES) and done.stats.prompt_tokens > 0
    assert backend.count_is_estimate


def test_sampling_options_reach_the_server(fault):
    answer(
        RemoteBackend(fault.url, "ok"), sampling=SamplingOptions(temperature=0.3, top_k=7, seed=42)
    )
    body = fault.requests[-1][2]
    assert (body["temperature"], body["top_k"], body["seed"]) == (0.3, 7, 42)
    assert body["messages"] == [{"role": "user", "content": "What is 2+2?"}]


# -- keys ------------------------------------------------------------------------------------------

KEY = "sk-llmtui-test-9f3b2c"


@pytest.fixture()
def keyed():
    with FaultServer(api_key=KEY, forbidden_key="sk-forbidden") as server:
        yield server


def test_key_from_the_endpoints_env_var_is_sent(keyed, monkeypatch):
    monkeypatch.setenv("GPU_BOX_KEY", KEY)
    settings = Settings(endpoints=(Endpoint("gpu-box", keyed.url, api_key_env="GPU_BOX_KEY"),))
    backend = open_remote("gpu-box#ok", settings)
    text, _ = answer(backend)
    assert text == "".join(DEFAULT_PIECES) and backend.label == "ok @ gpu-box"
    assert keyed.requests[-1][1]["authorization"] == f"Bearer {KEY}"


def test_a_url_spec_uses_the_key_of_the_endpoint_with_that_url(keyed, monkeypatch):
    monkeypatch.setenv("GPU_BOX_KEY", KEY)
    settings = Settings(endpoints=(Endpoint("gpu-box", keyed.url, api_key_env="GPU_BOX_KEY"),))
    assert open_remote(f"http://127.0.0.1:{keyed.port}#ok", settings).load().name == "ok"


def test_401_names_the_env_var_the_key_comes_from(keyed, monkeypatch):
    monkeypatch.setenv("GPU_BOX_KEY", "sk-wrong")
    settings = Settings(endpoints=(Endpoint("gpu-box", keyed.url, api_key_env="GPU_BOX_KEY"),))
    error = failure(open_remote("gpu-box#ok", settings), load=True)
    assert error.kind == "auth" and "401" in error.message
    assert "GPU_BOX_KEY (set)" in error.message and "sk-wrong" not in error.message


def test_401_without_a_key_says_one_is_needed(keyed, monkeypatch):
    monkeypatch.delenv("GPU_BOX_KEY", raising=False)
    settings = Settings(endpoints=(Endpoint("gpu-box", keyed.url, api_key_env="GPU_BOX_KEY"),))
    error = failure(open_remote("gpu-box#ok", settings))
    assert (
        error.kind == "auth"
        and "needs an API key" in error.message
        and "GPU_BOX_KEY (not set)" in error.message
    )


def test_403(keyed):
    error = failure(RemoteBackend(keyed.url, "ok", "sk-forbidden"), load=True)
    assert error.kind == "auth" and "403" in error.message and "sk-forbidden" not in error.message


def test_no_key_sends_no_authorization_and_never_openais_own(fault, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-must-not-leak")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-must-not-leak")
    answer(RemoteBackend(fault.url, "ok"))
    headers = fault.requests[-1][1]
    assert "authorization" not in headers and "must-not-leak" not in json.dumps(headers)


def test_keyring_without_the_package_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)  # as if not installed
    settings = Settings(endpoints=(Endpoint("vault", "http://127.0.0.1:9/v1", use_keyring=True),))
    with pytest.raises(EngineError) as caught:
        open_remote("vault#m", settings)
    assert (
        caught.value.kind == "auth" and "keyring package is not installed" in caught.value.message
    )


def test_key_never_appears_in_errors_labels_stats_or_logs(keyed, caplog, tmp_path):
    """Every failure and every output a chat or comparison would keep, grepped for the key."""
    caplog.set_level(logging.DEBUG)
    outputs = []
    for model in ("ok", "broken", "cut", "eof", "stall", "malformed", "error_event", "gpt-9"):
        backend = RemoteBackend(keyed.url, model, KEY, "gpu-box", timeout=0.3, max_retries=1)
        outputs += [backend.label, backend.location, repr(backend)]
        try:
            outputs.append(repr(backend.load()))
            text, done = answer(backend)
            outputs += [text, json.dumps(done.stats.to_dict())]
        except EngineError as error:
            outputs += [error.message, str(error), repr(error), error.partial]
    outputs.append(caplog.text)
    joined = "\n".join(outputs)
    assert "internal error (request had 'Bearer ***')" in joined  # the echoing server was redacted
    assert KEY not in joined


# -- specs -----------------------------------------------------------------------------------------


def test_what_remote_means(tmp_path):
    """One definition (resolve.is_remote): a '#' makes a spec remote unless it names a file here;
    opening a remote spec that is wrong says what is wrong with it, not "no such file"."""
    odd = tmp_path / "my#model.gguf"
    odd.write_bytes(b"GGUF")
    context = AppContext(app_paths(), Settings(endpoints=(Endpoint("gpu-box", "http://gpu-box:8080/v1"),)))
    assert is_remote("http://127.0.0.1:8080/v1#smollm2")
    assert is_remote("gpu-box#llama3:8b") and is_remote("unknown#model")
    assert not is_remote(str(odd))
    assert not is_remote("TheBloke/phi-2-GGUF:Q4_K_M")
    backend = open_backend("gpu-box#llama3:8b", context)
    assert isinstance(backend, RemoteBackend) and backend.path is None
    assert not backend.can_set_template
    with pytest.raises(EngineError, match="no endpoint named 'lab'"):
        open_backend("lab#model", context)
    with pytest.raises(EngineError, match="not a remote model"):
        open_backend("http://127.0.0.1:8080/v1#", context)


def test_open_remote_parses_url_and_endpoint_specs():
    settings = Settings(endpoints=(Endpoint("gpu-box", "http://gpu-box:8080/v1"),))
    by_url = open_remote("http://10.0.0.5:8080#hf.co/org/model:Q4_K_M", settings)
    assert (by_url.base_url, by_url.model) == ("http://10.0.0.5:8080/v1", "hf.co/org/model:Q4_K_M")
    by_name = open_remote("gpu-box#smollm2", settings)
    assert (by_name.base_url, by_name.model, by_name.label) == (
        "http://gpu-box:8080/v1",
        "smollm2",
        "smollm2 @ gpu-box",
    )
    with pytest.raises(EngineError, match=r"no endpoint named 'lab'.*gpu-box"):
        open_remote("lab#smollm2", settings)
    with pytest.raises(EngineError, match="not a server URL"):
        open_remote("http://#m", Settings())
