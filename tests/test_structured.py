"""Structured answers: loading a schema or grammar, constrained generation (local and remote)."""

from __future__ import annotations

import json

import pytest

from tests.faultserver import FaultServer
from tests.test_engine_local import open_backend, run  # noqa: F401 - a fixture
from tui.core.engine.base import EngineError, LoadOptions, Message, SamplingOptions
from tui.core.engine.remote import RemoteBackend
from tui.core.engine.structured import (
    ResponseFormat,
    ResponseFormatError,
    load_response_format,
)

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
ASK_JSON = [Message("user", "Describe a person as JSON with a name and an age.")]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- loading -------------------------------------------------------------------------------------


def test_a_schema_file_loads_and_checks_answers(tmp_path):
    fmt = load_response_format(write(tmp_path, "person schema.json", json.dumps(PERSON)))
    assert (fmt.kind, fmt.schema, fmt.name) == ("json_schema", PERSON, "person_schema")
    assert fmt.check('{"name": "Ada", "age": 36}') is None
    assert "not valid JSON" in fmt.check('{"name": "Ada", ')
    assert "at age" in fmt.check('{"name": "Ada", "age": "old"}')
    assert "required" in fmt.check('{"name": "Ada"}')


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("broken.json", '{\n  "type": "object",\n  "properties": {\n', "broken.json:4: not valid JSON"),
        ("list.json", "[1, 2]", "must be an object, not list"),
        ("bad.json", '{"type": "objekt"}', "not a valid JSON schema at type"),
        ("bad-nested.json", '{"properties": {"a": {"minimum": "zero"}}}',
         "not a valid JSON schema at properties/a/minimum"),
        ("empty.gbnf", "  \n", "the grammar is empty"),
        ("noroot.gbnf", 'answer ::= "yes"', "no `root ::= ...` rule"),
        ("schema.yaml", "type: object", "expected a JSON schema (.json) or a GBNF grammar"),
        ("latin1.json", None, "cannot read"),
    ],
)  # fmt: skip
def test_a_broken_schema_or_grammar_is_one_clear_line(tmp_path, name, text, says):
    path = tmp_path / name
    if text is None:
        path.write_bytes(b'{"title": "caf\xe9"}')
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ResponseFormatError) as caught:
        load_response_format(path)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_file_is_one_clear_line(tmp_path):
    with pytest.raises(ResponseFormatError, match="cannot read"):
        load_response_format(tmp_path / "nowhere.json")


def test_a_response_format_survives_the_round_trip_through_sampling_options():
    sampling = SamplingOptions(response_format=ResponseFormat.from_schema(PERSON, "person"))
    assert SamplingOptions.from_dict(json.loads(json.dumps(sampling.to_dict()))) == sampling


# -- local: real constrained generation ---------------------------------------------------------


def test_smollm2_answers_json_that_matches_the_schema(smollm2, open_backend):  # noqa: F811
    backend = open_backend(smollm2, load=LoadOptions(n_ctx=1024))
    fmt = ResponseFormat.from_schema(PERSON)
    free, _ = run(backend, ASK_JSON, temperature=0.0, max_tokens=80)
    constrained, stats = run(backend, ASK_JSON, temperature=0.0, max_tokens=80, response_format=fmt)
    assert fmt.check(free) is not None  # unconstrained, this model writes prose or a code fence
    assert fmt.check(constrained) is None, constrained
    assert stats.finish_reason == "stop"
    # Sampled too, not only greedy.
    for seed in (1, 2):
        text, _ = run(backend, ASK_JSON, temperature=1.0, seed=seed, max_tokens=80,
                      response_format=fmt)  # fmt: skip
        assert fmt.check(text) is None, text


def test_any_json_object_and_a_gbnf_grammar_constrain_smollm2(smollm2, open_backend):  # noqa: F811
    backend = open_backend(smollm2, load=LoadOptions(n_ctx=1024))
    text, _ = run(backend, ASK_JSON, temperature=0.0, max_tokens=60,
                  response_format=ResponseFormat.json_object())  # fmt: skip
    assert isinstance(json.loads(text), dict)
    grammar = ResponseFormat("grammar", grammar='root ::= ("yes" | "no") "."')
    text, _ = run(backend, [Message("user", "Is water wet?")], temperature=0.0, max_tokens=10,
                  response_format=grammar)  # fmt: skip
    assert text in ("yes.", "no.")


def test_a_grammar_llama_cpp_refuses_is_an_error_and_the_model_goes_on(tiny_gguf, open_backend):  # noqa: F811
    backend = open_backend(tiny_gguf(["Hello", " there"]))
    for grammar, says in [
        ("root ::= answer", "Undefined rule identifier 'answer'"),
        ('root ::= ("a"', "expecting ')'"),
        ('root ::= root "a"', "llama.cpp refused the grammar"),
    ]:
        with pytest.raises(EngineError) as caught:
            run(backend, response_format=ResponseFormat("grammar", grammar=grammar))
        assert caught.value.kind == "unsupported" and says in caught.value.message
    assert run(backend)[0] == "Hello there"  # same worker: nothing crashed


def test_a_schema_the_converter_does_not_support_is_an_error(tiny_gguf, open_backend):  # noqa: F811
    backend = open_backend(tiny_gguf(["Hello"]))
    fmt = ResponseFormat.from_schema({"not": {"type": "string"}})  # valid, but not convertible
    with pytest.raises(EngineError) as caught:
        run(backend, response_format=fmt)
    assert caught.value.kind == "unsupported"
    assert "cannot constrain answers to this schema" in caught.value.message
    assert run(backend)[0] == "Hello"


# -- local: exact text with a tiny scripted model -----------------------------------------------


def test_a_scripted_schema_valid_answer_comes_exactly(tiny_gguf, open_backend):  # noqa: F811
    script = ['{"name": ', '"[bold]\\u001b[2J"', ', "age": ', "42", "}"]
    backend = open_backend(tiny_gguf(script))
    fmt = ResponseFormat.from_schema(PERSON)
    text, stats = run(backend, temperature=0.0, response_format=fmt)
    assert text == "".join(script)
    assert json.loads(text) == {"name": "[bold]\x1b[2J", "age": 42}
    assert (stats.finish_reason, stats.completion_tokens) == ("stop", len(script))


def test_the_grammar_overrides_what_the_model_would_say(tiny_gguf, open_backend):  # noqa: F811
    backend = open_backend(tiny_gguf(["Hello", " there"]))
    grammar = ResponseFormat("grammar", grammar='root ::= "yes" | "no"')
    text, stats = run(backend, temperature=0.0, response_format=grammar)
    assert text in ("yes", "no") and stats.finish_reason == "stop"


# -- remote ---------------------------------------------------------------------------------------


def test_the_schema_goes_to_the_server_as_openais_response_format():
    with FaultServer() as server:
        fmt = ResponseFormat.from_schema(PERSON, "person")
        run(RemoteBackend(server.url, "ok"), response_format=fmt)
        grammar = ResponseFormat("grammar", grammar='root ::= "yes"')
        run(RemoteBackend(server.url, "ok"), response_format=grammar)
        bodies = [body for path, _, body in server.requests if path == "/v1/chat/completions"]
    assert bodies[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON, "strict": True},
    }
    assert bodies[1]["grammar"] == 'root ::= "yes"' and "response_format" not in bodies[1]


def test_a_server_that_refuses_extra_fields_never_gets_a_grammar_dropped():
    with FaultServer(strict=True) as server:
        backend = RemoteBackend(server.url, "ok")
        with pytest.raises(EngineError) as caught:
            run(backend, response_format=ResponseFormat("grammar", grammar='root ::= "yes"'))
        bodies = [body for path, _, body in server.requests if path == "/v1/chat/completions"]
    assert len(bodies) == 1 and bodies[0]["grammar"] == 'root ::= "yes"'
    assert "Unrecognized request argument" in caught.value.message


def test_smollm2_through_llama_cpp_pythons_server_answers_a_json_object(llama_server):
    # That server takes `json_object` (not yet OpenAI's `json_schema`, which llama.cpp's does).
    fmt = ResponseFormat.json_object()
    with RemoteBackend(llama_server, "smollm2") as backend:
        free, _ = run(backend, ASK_JSON, temperature=0.0, max_tokens=60)
        text, _ = run(backend, ASK_JSON, temperature=0.0, max_tokens=60, response_format=fmt)
    assert fmt.check(free) is not None and fmt.check(text) is None, (free, text)
