"""`llmtui serve` (a real llama-cpp-python server on a GGUF) and `llmtui endpoints`."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.fakehub import fake_hub  # noqa: F401
from tests.faultserver import FaultServer, free_port, wait_until_serving
from tests.test_endpoints import FakeKeyring
from tui.cli import main
from tui.cli.serve import is_loopback
from tui.core.config.paths import app_paths
from tui.core.engine.base import EngineError, Message, SamplingOptions, TokenEvent
from tui.core.engine.remote import RemoteBackend

PIECES = ["Served", " from", " one", " machine", " to", " another", "."]
KEY = "sk-serve-test-81c0aa"


def llmtui(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


@pytest.mark.inference
def test_serve_a_gguf_and_chat_with_it_remotely(tiny_gguf):
    path = tiny_gguf(PIECES, name="story.gguf")
    port = free_port()
    server = llmtui("serve", str(path), "--port", str(port), "--api-key-env", "SERVE_KEY",
                    env={"SERVE_KEY": KEY})  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        with pytest.raises(EngineError) as refused:  # the key is required
            wait_until_serving(url, server)
        assert refused.value.kind == "auth"
        with RemoteBackend(url, "story", KEY) as backend:
            assert backend.list_models() == ["story"]  # the alias defaults to the file's name
            backend.load()
            events = list(
                backend.stream([Message("user", "Tell me")], SamplingOptions(max_tokens=20))
            )
        assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == "".join(PIECES)
    finally:
        server.send_signal(signal.SIGINT)  # ctrl+c: uvicorn shuts down cleanly
        output, _ = server.communicate(timeout=30)
    assert f"use it as: {url}#story" in output
    assert "warning" not in output and KEY not in output
    assert server.returncode == 0


def download(fake_hub, files: dict) -> None:
    """Put files into the Hugging Face cache as `llmtui download` does (from the loopback Hub)."""
    from tui.core.config.context import AppContext
    from tui.core.models.downloads import FileRequest

    fake_hub.add_repo("TheBloke/phi-2-GGUF", files)
    manager = AppContext.load().download_manager()
    for name in files:
        f = fake_hub.repos["TheBloke/phi-2-GGUF"].files[name]
        manager.wait(manager.submit(FileRequest("TheBloke/phi-2-GGUF", name, f.size, f.sha256)))


@pytest.mark.inference
def test_serve_answers_in_the_prompt_format_chat_would_use(tiny_gguf):
    from tui.core.engine.local import LocalBackend

    # No template in the file: `llmtui chat` guesses Mistral's [INST] format from the name, where
    # llama-cpp-python on its own would fall back to Llama-2's.
    path = tiny_gguf(PIECES, chat_template=None, name="Mistral 7B Instruct v0.2")
    conversation = [Message("system", "Be brief."), Message("user", "Tell me")]
    with LocalBackend(path) as local:
        local.load()
        expected = local.count_tokens(conversation)
        local.set_template("llama-2")
        assert local.count_tokens(conversation) != expected  # the formats differ in length
    port = free_port()
    server = llmtui("serve", str(path), "--port", str(port))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(url, server)
        import httpx2  # the server's own count of the prompt it built (its streams carry none)

        answer = httpx2.post(f"{url}/chat/completions", timeout=30, json={
            "model": "Mistral 7B Instruct v0.2", "max_tokens": 20,
            "messages": [{"role": m.role, "content": m.content} for m in conversation],
        }).json()  # fmt: skip
        assert answer["choices"][0]["message"]["content"] == "".join(PIECES)
        assert answer["usage"]["prompt_tokens"] == expected
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert "prompt format guessed (mistral)" in output


@pytest.mark.inference
def test_serve_a_downloaded_catalogue_model_by_its_id_and_quant(fake_hub, tiny_gguf):
    download(fake_hub, {
        "phi-2.Q4_K_M.gguf": tiny_gguf(PIECES, name="q4.gguf"),
        "phi-2.Q8_0.gguf": tiny_gguf(["Not", " this", " one"], name="q8.gguf"),
    })  # fmt: skip
    port = free_port()
    # What `llmtui chat` takes: the catalogue id, and a quant to pick among the downloaded files.
    server = llmtui("serve", "microsoft/phi-2:Q4_K_M", "--port", str(port))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        assert wait_until_serving(url, server) == ["phi-2.Q4_K_M"]
        with RemoteBackend(url, "phi-2.Q4_K_M") as backend:
            backend.load()
            events = list(
                backend.stream([Message("user", "Tell me")], SamplingOptions(max_tokens=20))
            )
        assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == "".join(PIECES)
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert f"use it as: {url}#phi-2.Q4_K_M" in output and server.returncode == 0


def test_a_model_that_is_not_here_or_remote_is_refused(fake_hub, tiny_gguf, capsys):
    assert main(["serve", "microsoft/phi-2"]) == 2  # nothing downloaded yet
    assert main(["serve", "http://127.0.0.1:8080/v1#smollm2"]) == 2
    download(fake_hub, {"phi-2.Q4_K_M.gguf": tiny_gguf(PIECES)})
    assert main(["serve", "TheBloke/phi-2-GGUF:Q8_0"]) == 2  # that quant is not downloaded
    assert capsys.readouterr().err.splitlines() == [
        "llmtui: error: cannot serve microsoft/phi-2: microsoft/phi-2 is not downloaded (looked "
        "in the Hugging Face cache for TheBloke/phi-2-GGUF): `llmtui download microsoft/phi-2` "
        "fetches it",
        "llmtui: error: cannot serve http://127.0.0.1:8080/v1#smollm2: it is a remote model; "
        "serve a local GGUF",
        "llmtui: error: cannot serve TheBloke/phi-2-GGUF:Q8_0: TheBloke/phi-2-GGUF (Q8_0) is not "
        "downloaded (looked in the Hugging Face cache for TheBloke/phi-2-GGUF): `llmtui download "
        "TheBloke/phi-2-GGUF` fetches it",
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.gguf", "no such file"),
        (
            lambda tmp: (tmp / "notes.gguf").write_text("not a model") and tmp / "notes.gguf",
            "not a GGUF",
        ),
    ],
)
def test_bad_model_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    assert main(["serve", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("llmtui: error: cannot serve")


def test_port_in_use_is_refused_before_loading(tiny_gguf, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(tiny_gguf(PIECES)), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_non_loopback_host_warns(tiny_gguf, capsys, monkeypatch):
    monkeypatch.delenv("UNSET_KEY_VAR", raising=False)
    # The missing key stops it before anything listens; the warning is already out.
    code = main(
        ["serve", str(tiny_gguf(PIECES)), "--host", "0.0.0.0", "--api-key-env", "UNSET_KEY_VAR"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "warning: listening on 0.0.0.0, not just this machine" in err
    assert "UNSET_KEY_VAR: that environment variable is not set" in err


def test_loopback_addresses():
    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.10", "gpu-box"]))


# -- endpoints -------------------------------------------------------------------------------------


def test_endpoints_add_list_test_remove(capsys, monkeypatch):
    monkeypatch.setenv("FAULT_KEY", KEY)
    with FaultServer(api_key=KEY) as fault:
        assert (
            main(
                [
                    "endpoints",
                    "add",
                    "fault",
                    f"http://127.0.0.1:{fault.port}",
                    "--key-env",
                    "FAULT_KEY",
                ]
            )
            == 0
        )
        added = capsys.readouterr().out
        assert f"saved endpoint fault ({fault.url})" in added and "fault#ok" in added
        assert main(["endpoints", "list"]) == 0
        listed = capsys.readouterr().out
        assert (
            listed
            == f"fault\t{fault.url}\tthe key comes from environment variable FAULT_KEY (set)\n"
        )
        assert main(["endpoints", "test", "fault"]) == 0
        tested = capsys.readouterr().out
        assert tested.splitlines()[:3] == ["fault: 8 model(s)", "fault#ok", "fault#flaky"]
        monkeypatch.setenv("FAULT_KEY", "sk-wrong")
        assert main(["endpoints", "test", "fault"]) == 1
        err = capsys.readouterr().err
        assert "401" in err and "FAULT_KEY (set)" in err and "sk-wrong" not in err
    assert KEY not in added + listed + tested + app_paths().settings_file.read_text()
    assert main(["endpoints", "remove", "fault"]) == 0
    assert main(["endpoints", "list"]) == 0
    assert "no endpoints saved" in capsys.readouterr().out


def test_endpoints_bad_input_exits_2(capsys):
    assert main(["endpoints", "add", "box", "http://box:8080/v1", "--no-test"]) == 0
    assert main(["endpoints", "add", "box", "http://other/v1", "--no-test"]) == 2
    assert main(["endpoints", "add", "new", "not a url", "--no-test"]) == 2
    assert main(["endpoints", "test", "nope"]) == 2
    assert main(["endpoints", "remove", "nope"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "llmtui: error: an endpoint named 'box' already exists",
        "llmtui: error: not a server URL: 'not a url' (expected e.g. http://127.0.0.1:8080/v1)",
        "llmtui: error: no endpoint named 'nope' (endpoints: box)",
        "llmtui: error: no endpoint named 'nope' (endpoints: box)",
    ]


def test_endpoints_unreachable_server_exits_1(capsys):
    port = free_port()
    assert main(["endpoints", "add", "down", f"http://127.0.0.1:{port}/v1"]) == 1
    captured = capsys.readouterr()
    assert "saved endpoint down" in captured.out and "connection refused" in captured.err


def test_endpoints_add_with_keyring_asks_for_the_key_without_echo(capsys, monkeypatch):
    keyring = FakeKeyring()
    monkeypatch.setitem(sys.modules, "keyring", keyring)
    monkeypatch.setitem(sys.modules, "keyring.errors", keyring.errors)
    monkeypatch.setattr("getpass.getpass", lambda prompt: KEY)
    with FaultServer(api_key=KEY) as fault:
        assert main(["endpoints", "add", "vault", fault.url, "--keyring"]) == 0
    assert keyring.store == {("llmtui", "vault"): KEY}
    out = capsys.readouterr().out
    assert "vault#ok" in out and KEY not in out + app_paths().settings_file.read_text()


@pytest.mark.inference
def test_served_smollm2_honours_openais_response_format_json_object_and_json_schema(smollm2):
    from tui.core.engine.structured import ResponseFormat

    colour = {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["blue", "green"]}},
        "required": ["colour"],
    }
    ask = [Message("user", "Describe a person as JSON with a name and an age.")]
    formats = [ResponseFormat.json_object(), ResponseFormat.from_schema(colour, "colour")]
    port = free_port()
    server = llmtui("serve", str(smollm2), "--port", str(port), "--alias", "smollm2", "--ctx",
                    "1024")  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    answers = []
    try:
        wait_until_serving(url, server)
        with RemoteBackend(url, "smollm2") as backend:
            backend.load()
            for fmt in formats:
                sampling = SamplingOptions(temperature=0.0, max_tokens=60, response_format=fmt)
                events = list(backend.stream(ask, sampling))
                answers.append("".join(e.text for e in events if isinstance(e, TokenEvent)))
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    for fmt, answer in zip(formats, answers, strict=True):
        assert fmt.check(answer) is None, (fmt.kind, answer)


def test_only_openais_json_schema_form_is_rewritten():
    import json

    from tui.cli.serve import _json_object_form

    schema = {"type": "object"}
    asked = {"messages": [], "response_format": {"type": "json_schema",
                                                 "json_schema": {"name": "x", "schema": schema}}}
    assert json.loads(_json_object_form(json.dumps(asked).encode()))["response_format"] == {
        "type": "json_object", "schema": schema,
    }  # fmt: skip
    for unchanged in (b'{"response_format": {"type": "json_object"}}', b'{"messages": []}',
                      b"not json [bold", b'{"response_format": null}'):  # fmt: skip
        assert _json_object_form(unchanged) == unchanged
