"""Prompt sets: loading YAML/JSONL with file:line errors, checks, and the diff between two runs."""

from __future__ import annotations

import pytest

from tui.core.compare.comparison import Cell, Column, CompareConfig, ComparisonResult, ModelChoice
from tui.core.compare.diff import diff
from tui.core.compare.prompt_sets import Prompt, PromptSetError, load_prompt_set


def test_yaml_set_with_system_checks_and_bare_strings(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(
        "system: Be terse.\n"
        "prompts:\n"
        "  - What is 2+2?\n"
        "  - id: capital\n"
        "    prompt: Capital of France?\n"
        "    system: One word.\n"
        "    expect: [Paris]\n"
        "  - prompt: Name a colour\n"
        "    regex: 'red|blue'\n"
        "    ignore_case: true\n"
    )
    prompt_set = load_prompt_set(path)
    assert prompt_set.system == "Be terse."
    first, capital, colour = prompt_set.prompts
    assert (first.prompt, first.id, first.check("anything")) == ("What is 2+2?", "p1", None)
    assert capital.id == "capital" and capital.system == "One word."
    assert capital.check("It is Paris.") is True
    assert capital.check("It is paris.") is False  # case matters unless ignore_case
    assert colour.check("BLUE") is True and colour.check("green") is False


def test_jsonl_set(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text('{"prompt": "a", "expect": "x"}\n\n{"prompt": "b", "regex": "^b"}\n')
    prompts = load_prompt_set(path).prompts
    assert [p.prompt for p in prompts] == ["a", "b"]
    assert prompts[0].expect == ("x",)
    assert prompts[1].check("bee") is True


@pytest.mark.parametrize(
    ("name", "text", "line", "fragment"),
    [
        ("bad.yaml", "prompts:\n  - prompt: ok\n  - prompt: [unclosed\n", 4, "not valid YAML"),
        ("key.yaml", "prompts:\n  - prompt: ok\n  - promt: typo\n", 3, "unknown key 'promt'"),
        ("regex.yaml", "- prompt: ok\n  regex: '(unclosed'\n", 1, "bad regex"),
        ("empty.yaml", "- prompt: ''\n", 1, "non-empty text"),
        ("bad.jsonl", '{"prompt": "a"}\n{"prompt": "b",}\n', 2, "not valid JSON"),
        ("type.jsonl", '{"prompt": "a"}\n["b"]\n', 2, "expected a prompt"),
    ],
)
def test_syntax_errors_name_file_and_line(tmp_path, name, text, line, fragment):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PromptSetError) as caught:
        load_prompt_set(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert fragment in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PromptSetError, match="cannot read"):
        load_prompt_set(tmp_path / "nope.yaml")


def _grid(answers: dict[tuple[int, int], str], prompts: tuple[Prompt, ...]) -> ComparisonResult:
    config = CompareConfig((ModelChoice("m1.gguf"), ModelChoice("m2.gguf")), prompts)
    columns = [Column(0, "m1.gguf", "A"), Column(1, "m2.gguf", "B")]
    cells = []
    for (row, col), answer in sorted(answers.items()):
        cells.append(Cell(row, col, "done", answer, passed=prompts[row].check(answer)))
    return ComparisonResult(config, columns, cells)


def test_diff_reports_pass_to_fail_and_changed_answers():
    prompts = (Prompt("q1", id="q1", expect=("yes",)), Prompt("q2", id="q2"))
    before = _grid({(0, 0): "yes", (0, 1): "no", (1, 0): "same", (1, 1): "old"}, prompts)
    after = _grid({(0, 0): "nope", (0, 1): "yes", (1, 0): "same", (1, 1): "new"}, prompts)
    changes = {(c.prompt_id, c.model): c.kind for c in diff(before, after)}
    assert changes == {
        ("q1", "m1.gguf"): "pass->fail",
        ("q1", "m2.gguf"): "fail->pass",
        ("q2", "m2.gguf"): "answer changed",
    }


def test_json_schema_check_inline_or_from_a_file_beside_the_set(tmp_path):
    (tmp_path / "user.json").write_text(
        '{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}'
    )
    path = tmp_path / "set.yaml"
    path.write_text(
        "prompts:\n"
        "  - prompt: A user as JSON\n"
        "    json_schema: user.json\n"
        "  - prompt: A list as JSON\n"
        "    json_schema:\n"
        "      type: array\n"
        "      items: {type: integer}\n"
        "      minItems: 1\n"
    )
    user, numbers = load_prompt_set(path).prompts
    assert user.check('{"name": "[bold]\\u001b[2J"}') is True
    assert user.check('{"name": 3}') is False
    assert user.check('Sure! {"name": "Ada"}') is False  # not JSON as a whole
    assert numbers.json_schema == {"type": "array", "items": {"type": "integer"}, "minItems": 1}
    assert numbers.check("[1, 2]") is True and numbers.check("[]") is False
    assert Prompt.from_dict(numbers.to_dict()) == numbers  # kept with a saved comparison


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("missing.json", "json_schema: "),
        ("{type: objekt}", "not a valid JSON schema at type"),
        ("[1, 2]", "must be an object"),
    ],
)
def test_a_bad_json_schema_names_the_file_and_line(tmp_path, value, says):
    path = tmp_path / "set.yaml"
    path.write_text(f"prompts:\n  - prompt: first\n  - prompt: second\n    json_schema: {value}\n")
    with pytest.raises(PromptSetError) as caught:
        load_prompt_set(path)
    assert caught.value.line == 3 and says in caught.value.message
