"""Structured answers: a JSON schema or a GBNF grammar that constrains what a model may generate.

`load_response_format(path)` reads a schema (`.json`) or a grammar (`.gbnf`) and refuses a broken one
with one line (`ResponseFormatError`). What can be checked without llama.cpp is checked here: the JSON
parses, it is a valid JSON Schema (its meta-schema, through `jsonschema`), a grammar has a `root` rule.
The local worker then turns a schema into a grammar (llama-cpp-python's converter) and has llama.cpp
parse it before generating: a schema the converter does not support, or a grammar llama.cpp refuses,
ends that request with an `EngineError` ("unsupported"), never a native crash. A remote backend sends
the schema as OpenAI's `response_format` and a grammar as llama-server's `grammar` field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tui.core.errors import LlmtuiError

FormatKind = Literal["json_schema", "json_object", "grammar"]
_ROOT_RULE = re.compile(r"^\s*root\s*::=", re.MULTILINE)


class ResponseFormatError(LlmtuiError):
    title = "Response format not used"


@dataclass(frozen=True)
class ResponseFormat:
    """What an answer must be: valid JSON matching `schema`, any JSON object, or text in `grammar`."""

    kind: FormatKind
    schema: dict[str, Any] = field(default_factory=dict)  # kind "json_schema"
    grammar: str = ""  # kind "grammar": GBNF text
    name: str = "answer"  # OpenAI's json_schema.name: letters, digits, _ and -

    @classmethod
    def json_object(cls) -> ResponseFormat:
        return cls("json_object")

    @classmethod
    def from_schema(cls, schema: Any, name: str = "answer") -> ResponseFormat:
        """A checked schema; ResponseFormatError when it is not a valid JSON Schema."""
        check_schema(schema)
        return cls("json_schema", schema=schema, name=re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "answer")

    def check(self, answer: str) -> str | None:
        """Why `answer` does not satisfy this format (None: it does). A grammar is not checked here:
        generation under it can only produce text it allows."""
        if self.kind == "grammar":
            return None
        return json_answer_problem(answer, self.schema if self.kind == "json_schema" else None)


def load_response_format(path: Path | str) -> ResponseFormat:
    """A JSON schema (.json) or a GBNF grammar (.gbnf) from a file; ResponseFormatError (one line)."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".json", ".gbnf"):
        raise ResponseFormatError(f"{path.name}: expected a JSON schema (.json) or a GBNF grammar (.gbnf)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ResponseFormatError(f"{path}: cannot read: {error}") from None
    if suffix == ".gbnf":
        return ResponseFormat("grammar", grammar=check_grammar(text, str(path)))
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResponseFormatError(
            f"{path}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})"
        ) from None
    try:
        return ResponseFormat.from_schema(schema, path.stem)
    except ResponseFormatError as error:
        raise ResponseFormatError(f"{path}: {error}") from None


def check_schema(schema: Any) -> None:
    """ResponseFormatError unless `schema` is a JSON Schema object valid against its meta-schema."""
    from jsonschema import SchemaError, validators

    if not isinstance(schema, dict):
        raise ResponseFormatError(f"a JSON schema must be an object, not {type(schema).__name__}")
    try:
        validators.validator_for(schema).check_schema(schema)
    except SchemaError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ResponseFormatError(f"not a valid JSON schema at {where}: {error.message}") from None


def check_grammar(text: str, where: str = "grammar") -> str:
    """The grammar text when it has a root rule (llama.cpp starts there); ResponseFormatError if not.
    The full parse is llama.cpp's, in the worker."""
    if not text.strip():
        raise ResponseFormatError(f"{where}: the grammar is empty")
    if not _ROOT_RULE.search(text):
        raise ResponseFormatError(f"{where}: the grammar has no `root ::= ...` rule")
    return text


def json_answer_problem(answer: str, schema: dict | None) -> str | None:
    """Why `answer` is not JSON (matching `schema`, when given); None when it is."""
    from jsonschema import validators

    try:
        value = json.loads(answer)
    except json.JSONDecodeError as error:
        return f"not valid JSON: {error.msg} (column {error.colno})"
    if schema is None:
        return None if isinstance(value, dict) else "not a JSON object"
    validator = validators.validator_for(schema)(schema)
    error = next(iter(validator.iter_errors(value)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"does not match the schema at {where}: {error.message}"
