"""Prompt sets: a file of prompts, each with optional checks, run across models into a grid.

YAML::

    system: You are terse.          # optional, for every prompt without its own
    prompts:
      - prompt: What is 2+2?
        expect: ["4"]               # substrings the answer must contain (all of them)
      - id: capital
        prompt: Capital of France?
        system: Answer in one word.
        regex: "(?i)paris"          # the answer must match (re.search)
      - prompt: A user as JSON, please.
        json_schema: user.schema.json   # the answer must be JSON valid against it (or a mapping
                                        # here: the schema inline)

Checks look at the answer alone: a reasoning block before it (`<think>…</think>`) is not checked.

A bare list of prompts (strings or mappings) works too. JSONL: one mapping per line, same keys.
Every error names the file and line. A grid is a `ComparisonResult` (prompt rows x model columns);
`tui.core.compare.diff` says what changed between two runs of the same set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from tui.core.engine.structured import (
    ResponseFormatError,
    check_schema,
    json_answer_problem,
    load_response_format,
)
from tui.core.errors import LlmtuiError

PROMPT_KEYS = {"id", "prompt", "system", "expect", "regex", "ignore_case", "json_schema"}


class PromptSetError(LlmtuiError):
    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Prompt:
    prompt: str
    system: str | None = None  # None: the comparison's shared system prompt
    id: str = ""
    expect: tuple[str, ...] = ()
    regex: str | None = None
    ignore_case: bool = False
    json_schema: dict | None = None  # the answer must be JSON valid against it

    def check(self, answer: str) -> bool | None:
        """True/False when the prompt has checks, None when there is nothing to check. `answer` is
        the answer alone, its reasoning kept apart."""
        if not self.expect and self.regex is None and self.json_schema is None:
            return None
        if self.json_schema is not None and json_answer_problem(answer, self.json_schema):
            return False
        fold = str.casefold if self.ignore_case else str
        if not all(fold(needle) in fold(answer) for needle in self.expect):
            return False
        flags = re.IGNORECASE if self.ignore_case else 0
        return self.regex is None or re.search(self.regex, answer, flags) is not None

    def to_dict(self) -> dict:
        """`id` and `prompt`, then each field that is not its default."""
        data: dict[str, Any] = {"id": self.id, "prompt": self.prompt}
        for f in fields(self):
            if f.name not in data and getattr(self, f.name) != f.default:
                data[f.name] = getattr(self, f.name)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Prompt:
        """From `to_dict`'s keys (one left out takes its default)."""
        expect, ignore_case = tuple(data.get("expect", ())), bool(data.get("ignore_case"))
        return cls(**{**data, "expect": expect, "ignore_case": ignore_case})


@dataclass(frozen=True)
class PromptSet:
    path: str
    prompts: tuple[Prompt, ...]
    system: str = ""


def load_prompt_set(path: Path | str) -> PromptSet:
    """Read a .yaml/.yml/.jsonl prompt set; PromptSetError (file:line) when it is not valid."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PromptSetError(path, None, f"cannot read: {error}") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _from_jsonl(path, text)
    return _from_yaml(path, text)


def _from_jsonl(path: Path, text: str) -> PromptSet:
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise PromptSetError(
                path, number, f"not valid JSON: {error.msg} (column {error.colno})"
            ) from None
        prompts.append(_prompt(path, number, data, len(prompts)))
    if not prompts:
        raise PromptSetError(path, None, "no prompts")
    return PromptSet(str(path), tuple(prompts))


class _LineLoader(yaml.SafeLoader):
    """Safe YAML that remembers the line of every mapping (key "__line__")."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    data = loader.construct_mapping(node, deep=True)
    data["__line__"] = node.start_mark.line + 1
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _from_yaml(path: Path, text: str) -> PromptSet:
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        raise PromptSetError(path, mark.line + 1 if mark else None, f"not valid YAML: {problem}") from None
    system = ""
    if isinstance(data, dict):
        line = data.pop("__line__")
        unknown = set(data) - {"prompts", "system", "name"}
        if unknown:
            raise PromptSetError(
                path, line, f"unknown key {sorted(unknown)[0]!r} (known: name, prompts, system)"
            )
        system = data.get("system") or ""
        if not isinstance(system, str):
            raise PromptSetError(path, line, "system must be text")
        items = data.get("prompts")
    else:
        line, items = 1, data
    if not isinstance(items, list) or not items:
        raise PromptSetError(path, line, "expected a non-empty list of prompts")
    prompts = []
    for item in items:
        item_line = item.pop("__line__", line) if isinstance(item, dict) else line
        if isinstance(item, str):
            item = {"prompt": item}
        prompts.append(_prompt(path, item_line, item, len(prompts)))
    return PromptSet(str(path), tuple(prompts), system)


def _prompt(path: Path, line: int, data: Any, index: int) -> Prompt:
    if not isinstance(data, dict):
        raise PromptSetError(path, line, f"expected a prompt (text or mapping), got {type(data).__name__}")
    unknown = set(data) - PROMPT_KEYS
    if unknown:
        known = ", ".join(sorted(PROMPT_KEYS))
        raise PromptSetError(path, line, f"unknown key {sorted(unknown)[0]!r} (known: {known})")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise PromptSetError(path, line, "'prompt' must be non-empty text")
    for key in ("system", "regex", "id"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise PromptSetError(path, line, f"'{key}' must be text")
    expect = data.get("expect", ())
    if isinstance(expect, str):
        expect = (expect,)
    if not isinstance(expect, (list, tuple)) or not all(isinstance(e, str) for e in expect):
        raise PromptSetError(path, line, "'expect' must be text or a list of texts")
    if data.get("regex") is not None:
        try:
            re.compile(data["regex"])
        except re.error as error:
            raise PromptSetError(path, line, f"bad regex: {error}") from None
    schema = _json_schema(path, line, data.get("json_schema"))
    identity = data.get("id") or f"p{index + 1}"
    return Prompt.from_dict({**data, "id": identity, "expect": expect, "json_schema": schema})


def _json_schema(path: Path, line: int, value: Any) -> dict | None:
    """A prompt's `json_schema`: a mapping (the schema itself) or a file beside the prompt set."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            schema_format = load_response_format(path.parent / value)
            if schema_format.kind != "json_schema":
                raise ResponseFormatError(f"{value}: json_schema names a .json schema file")
            return schema_format.schema
        schema = _without_lines(value)
        check_schema(schema)
        return schema
    except ResponseFormatError as error:
        raise PromptSetError(path, line, f"json_schema: {error}") from None


def _without_lines(value: Any) -> Any:
    """A YAML value without the line numbers `_LineLoader` put into its mappings."""
    if isinstance(value, dict):
        return {k: _without_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_without_lines(v) for v in value]
    return value
