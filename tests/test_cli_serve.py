"""`llmtui serve` (a real llama-cpp-python server on a GGUF) and `llmtui endpoints`."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import json
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
        assert answer["choices"][0]["message"] == {"role": "assistant", "content": "".join(PIECES)}
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


# -- reasoning_content, as llama.cpp's server sends it ---------------------------------------------

THINKING = ["<think>", "plan [bold", "[/]", "\x1b[2J", "</think>", "Answer", "."]
REASONING = "plan [bold[/]\x1b[2J"  # hostile text stays text, as the model wrote it


@pytest.mark.inference
@pytest.mark.parametrize(
    ("reasoning_format", "reasoning", "answer"),
    [("deepseek", REASONING, "Answer."), ("none", None, "".join(THINKING))],
)
def test_served_reasoning_comes_apart_as_reasoning_content(
    tiny_gguf, reasoning_format, reasoning, answer
):
    from openai import OpenAI

    path = tiny_gguf(THINKING, name="think.gguf")
    port = free_port()
    server = llmtui("serve", str(path), "--port", str(port), "--reasoning-format",
                    reasoning_format)  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    ask = {"model": "think", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}
    try:
        wait_until_serving(url, server)
        client = OpenAI(base_url=url, api_key="none", max_retries=0)  # read as OpenAI's client does
        message = client.chat.completions.create(**ask).choices[0].message
        deltas = [
            (kind, text)
            for event in client.chat.completions.create(**ask, stream=True)
            for kind in ("reasoning_content", "content")
            if (text := getattr(event.choices[0].delta, kind, None))
        ]
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert (getattr(message, "reasoning_content", None), message.content) == (reasoning, answer)
    joined = {kind: "".join(t for k, t in deltas if k == kind) for kind, _ in deltas}
    assert joined == {"content": answer} | ({"reasoning_content": reasoning} if reasoning else {})
    kinds = [kind for kind, _ in deltas]  # the thinking streams first, then the answer
    assert kinds == sorted(kinds, key=("reasoning_content", "content").index)


def serve_through_wrapper(response: bytes, *, content_type: bytes, path="/v1/chat/completions",
                          cut: int = 0, status: int = 200, opened: str | None = ""):  # fmt: skip
    """What a client gets from `ChatCompletionsAsOpenAI` around an app that answers `response`, sent
    in body chunks of `cut` bytes (0: one chunk): (status, headers, body)."""
    import asyncio

    from tui.cli.serve import ChatCompletionsAsOpenAI

    async def app(scope, receive, send):
        assert (await receive())["body"] == b"{}"
        headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(response))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        step = cut or len(response)
        for piece in (response[i : i + step] for i in range(0, len(response), step)):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "headers": []}
    asyncio.run(ChatCompletionsAsOpenAI(app, opened)(scope, receive, send))
    start, bodies = sent[0], sent[1:]
    assert start["type"] == "http.response.start" and not bodies[-1].get("more_body")
    return start["status"], dict(start["headers"]), b"".join(m["body"] for m in bodies)


def sse(*events) -> bytes:
    """llama-cpp-python's stream: `data: JSON` events, each ended by a blank line."""
    return b"".join(
        b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n"
        for e in events
    )


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "think",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip


def streamed(body: bytes) -> list:
    """The events of a stream: each chunk's choices, or the raw line of any other event."""
    events = body.split(b"\n\n")
    assert events[-1] == b""
    return [
        json.loads(e[6:])["choices"] if e.startswith(b"data: {") else e for e in events[:-1]
    ]


STREAM = sse(
    chunk({"role": "assistant"}),
    *(chunk({"content": piece}) for piece in ["  <th", "ink>\nplan [bo", "ld", "[/]\x1b[2J</thi",
                                              "nk>\n\n", "Answer", " <think> too."]),
    chunk({}, "stop"),
    b"[DONE]",
)  # fmt: skip


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 7, 50])
def test_a_stream_is_split_into_reasoning_then_content_however_its_events_are_cut(cut):
    ping = b": ping - 2026-01-01 00:00:00\n\n"  # sse-starlette's keep-alive: passes as it is
    stream = STREAM + ping
    status, _, body = serve_through_wrapper(stream, content_type=b"text/event-stream", cut=cut)
    events = streamed(body)
    assert status == 200 and events[-2:] == [b"data: [DONE]", ping.strip()]
    deltas = [choices[0]["delta"] for choices in events[:-2]]
    assert deltas == [
        {"role": "assistant"},
        {"reasoning_content": "plan [bo"},  # the blank space after the marker is dropped
        {"reasoning_content": "ld"},
        {"reasoning_content": "[/]\x1b[2J"},  # "</thi" is held until "nk>" ends the marker
        {"content": "Answer"},  # the event of "nk>\n\n" alone had nothing to say: dropped
        {"content": " <think> too."},  # a marker inside the answer is the answer's text
        {},
    ]
    assert events[-3] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]


def test_what_a_splitter_holds_is_sent_before_the_finish_and_before_done():
    # "<thi" may start a marker: held back, until the finish says it is the answer's.
    finished = sse(chunk({"content": "<thi"}), chunk({}, "stop"), b"[DONE]")
    _, _, body = serve_through_wrapper(finished, content_type=b"text/event-stream")
    assert streamed(body) == [
        [{"index": 0, "delta": {"content": "<thi"}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        b"data: [DONE]",
    ]
    cut_short = sse(chunk({"content": "<think>a plan</th"}), b"[DONE]")  # no finish_reason came
    _, _, body = serve_through_wrapper(cut_short, content_type=b"text/event-stream")
    assert streamed(body) == [
        [{"index": 0, "delta": {"reasoning_content": "a plan"}, "finish_reason": None}],
        [{"index": 0, "delta": {"reasoning_content": "</th"}, "finish_reason": None}],
        b"data: [DONE]",
    ]


def test_each_choice_has_its_own_splitter():
    two = {"id": "chatcmpl-1", "choices": [
        {"index": 0, "delta": {"content": "<think>mine</think>A"}, "finish_reason": None},
        {"index": 1, "delta": {"content": "B"}, "finish_reason": None},
    ]}  # fmt: skip
    _, _, body = serve_through_wrapper(sse(two), content_type=b"text/event-stream")
    assert [c["delta"] for c in streamed(body)[0]] == [
        {"reasoning_content": "mine", "content": "A"}, {"content": "B"},
    ]  # fmt: skip


def completion(content) -> bytes:
    return json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    ], "usage": {"prompt_tokens": 3}}).encode()  # fmt: skip


@pytest.mark.parametrize("cut", [0, 5])
def test_a_json_answer_gets_reasoning_content_and_its_length(cut):
    answer = completion("<think>\nplan [bold\x1b[2J\n</think>\n\nAnswer [/].")
    status, headers, body = serve_through_wrapper(answer, content_type=b"application/json", cut=cut)
    message = json.loads(body)["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Answer [/].",
                       "reasoning_content": "plan [bold\x1b[2J"}  # fmt: skip
    assert status == 200 and headers[b"content-length"] == str(len(body)).encode()
    assert json.loads(body)["usage"] == {"prompt_tokens": 3}


def test_what_has_no_reasoning_or_is_not_a_chat_answer_passes_untouched():
    for response, content_type, path, status in [
        (completion("Answer, no <think> first."), b"application/json", "/v1/chat/completions", 200),
        (completion(None), b"application/json", "/v1/chat/completions", 200),
        (completion("<think>x</think>y"), b"application/json", "/v1/completions", 200),
        (completion("<think>x</think>y"), b"application/json", "/v1/chat/completions", 500),
        (b'{"error": "[bold"}', b"application/json", "/v1/chat/completions", 200),
        (b"not json [bold", b"application/json", "/v1/chat/completions", 200),
        (STREAM, b"text/event-stream", "/v1/completions", 200),
        (sse({"choices": "not a list"}, b"not json"), b"text/event-stream",
         "/v1/chat/completions", 200),
        (STREAM[:-3], b"text/event-stream", "/v1/chat/completions", 404),
    ]:  # fmt: skip
        assert serve_through_wrapper(response, content_type=content_type, path=path,
                                     status=status)[2] == response  # fmt: skip
    # --reasoning-format none: the wrapper rewrites requests only
    for response, kind in [(STREAM, b"text/event-stream"),
                           (completion("<think>x</think>y"), b"application/json")]:  # fmt: skip
        assert serve_through_wrapper(response, content_type=kind, opened=None)[2] == response


def test_a_prompt_format_that_opens_the_block_starts_the_answer_inside_it(tiny_gguf, context):
    from argparse import Namespace

    from tests.tiny_gguf import CHATML_TEMPLATE
    from tui.cli.serve import _model_file

    def served(path):
        return _model_file(Namespace(model=str(path), template=None), context)

    opens = CHATML_TEMPLATE.replace("assistant\n", "assistant\n<think>\n")
    assert opens != CHATML_TEMPLATE
    path = tiny_gguf(PIECES, chat_template=opens)
    assert served(path) == (path, None, "<think>")  # the file's own template
    plain = tiny_gguf(PIECES, name="plain.gguf")
    assert served(plain) == (plain, None, "")
    answer = completion("a plan</think>Answer.")
    _, _, body = serve_through_wrapper(answer, content_type=b"application/json", opened="<think>")
    message = json.loads(body)["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("a plan", "Answer.")
