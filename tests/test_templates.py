"""Chat templates: precedence, family guesses, and prompts exactly as the models were trained on."""

from __future__ import annotations

import pytest

from tests.tiny_gguf import CHATML_TEMPLATE
from tui.core.engine.templates import (
    GGUF,
    KNOWN_FORMATS,
    TemplateError,
    choose_template,
    guess_family,
    template_choices,
)
from tui.core.models.gguf_header import check_local

CONVERSATION = [
    {"role": "system", "content": "SYS"},
    {"role": "user", "content": "U1"},
    {"role": "assistant", "content": "A1"},
    {"role": "user", "content": "U2"},
]


def test_the_embedded_template_comes_first_and_renders_like_llama_cpp(smollm2):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    metadata = check_local(smollm2).string_metadata()
    template = choose_template(metadata, smollm2.name)
    assert (template.name, template.source, template.is_guess) == (GGUF, "gguf", False)
    theirs = Jinja2ChatFormatter(metadata["tokenizer.chat_template"], eos_token="", bos_token="")
    expected = theirs(messages=CONVERSATION).prompt
    assert template.render(CONVERSATION) == expected
    # Without a system message, SmolLM2's template adds its own.
    assert "You are a helpful AI assistant named SmolLM" in template.render(CONVERSATION[1:2])


@pytest.mark.parametrize(
    ("name", "file_name", "expected"),
    [
        ("LLaMA v2", "llama-2-7b-chat.Q4_K_M.gguf", "llama-2"),
        ("mistralai_mistral-7b-instruct-v0.2", "mistral-7b-instruct-v0.2.Q4_K_M.gguf", "mistral"),
        ("", "mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf", "mistral"),
        ("huggingfaceh4_zephyr-7b-beta", "zephyr-7b-beta.Q4_K_M.gguf", "zephyr"),
        ("", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "zephyr"),
        ("", "vicuna-13b-v1.5.Q4_K_M.gguf", "vicuna"),
        ("", "deepseek-coder-6.7b-instruct.Q4_K_M.gguf", "deepseek-coder"),
        ("deepseek-ai_deepseek-llm-7b-chat", "deepseek-llm-7b-chat.Q4_K_M.gguf", "deepseek"),
        ("", "phi-2.Q4_K_M.gguf", "phi-2"),
        ("", "openhermes-2.5-mistral-7b.Q4_K_M.gguf", "chatml"),
        ("", "chatglm3-6b.Q4_K_M.gguf", "chatglm3"),
        ("", "alpaca-7b.Q4_0.gguf", "alpaca"),
    ],
)
def test_family_guess_from_names(name, file_name, expected):
    template = choose_template({"general.name": name}, file_name)
    assert (template.name, template.source, template.is_guess) == (expected, "family", True)
    assert "guessed" in template.reason


def test_architecture_is_the_next_clue_and_chatml_the_last_resort():
    assert guess_family({"general.architecture": "qwen2", "general.name": "model"}) == (
        "chatml",
        "the architecture ('qwen2')",
    )
    fallback = choose_template(
        {"general.architecture": "llama", "general.name": "mystery"}, "mystery.gguf"
    )
    assert (fallback.name, fallback.is_guess) == ("chatml", True)
    assert "choose one" in fallback.reason


def test_catalogue_hint_beats_a_name_guess_but_not_the_embedded_template():
    hinted = choose_template({"general.name": "vicuna"}, "", family_hint="internlm2")
    assert (hinted.name, hinted.source) == ("chatml", "family")
    assert "catalogue" in hinted.reason
    embedded = choose_template(
        {"tokenizer.chat_template": CHATML_TEMPLATE}, "", family_hint="vicuna"
    )
    assert embedded.name == GGUF


def test_a_user_choice_wins_and_bad_choices_are_clear():
    metadata = {"tokenizer.chat_template": CHATML_TEMPLATE}
    chosen = choose_template(metadata, "", choice="llama-2")
    assert (chosen.name, chosen.source, chosen.is_guess) == ("llama-2", "user", False)
    assert choose_template(metadata, "", choice=GGUF).source == "user"
    with pytest.raises(TemplateError, match="no chat template embedded"):
        choose_template({}, "", choice=GGUF)
    with pytest.raises(TemplateError, match="unknown chat template"):
        choose_template({}, "", choice="nope")
    assert [name for _, name in template_choices()] == [GGUF, *KNOWN_FORMATS]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Meta's reference format (llama/generation.py).
        ("llama-2", "[INST] <<SYS>>\nSYS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]"),
        # Mistral's tokenizer_config template (BOS comes from the tokenizer); the system prompt is
        # folded in.
        ("mistral", "[INST] SYS\n\nU1 [/INST]A1</s>[INST] U2 [/INST]"),
        (
            "zephyr",
            "<|system|>\nSYS</s>\n<|user|>\nU1</s>\n<|assistant|>\nA1</s>\n<|user|>\nU2</s>\n<|assistant|>\n",
        ),
        ("vicuna", "SYS\n\nUSER: U1\nASSISTANT: A1</s>\nUSER: U2\nASSISTANT:"),
        (
            "deepseek-coder",
            "SYS\n### Instruction:\nU1\n### Response:\nA1\n<|EOT|>\n### Instruction:\nU2\n### Response:\n",
        ),
        ("phi-2", "SYS\nInstruct: U1\nOutput: A1\nInstruct: U2\nOutput:"),
    ],
)
def test_known_formats_render_the_reference_prompt(name, expected):
    assert choose_template({}, "", choice=name).render(CONVERSATION) == expected


@pytest.mark.parametrize(
    ("ours", "theirs"), [("chatml", "format_chatml"), ("llama-3", "format_llama3")]
)
def test_known_formats_match_llama_cpp_where_it_is_right(ours, theirs):
    from llama_cpp import llama_chat_format

    expected = getattr(llama_chat_format, theirs)(CONVERSATION).prompt
    assert choose_template({}, "", choice=ours).render(CONVERSATION) == expected


def test_default_system_prompt_only_when_the_user_gives_none():
    vicuna = choose_template({}, "", choice="vicuna")
    assert vicuna.render([{"role": "user", "content": "hi"}]).startswith(
        "A chat between a curious user"
    )
    assert vicuna.render(CONVERSATION).startswith("SYS\n\n")


def test_a_template_that_refuses_a_system_role_gets_it_folded_into_the_first_turn():
    strict = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('no system role') }}{% endif %}"
        "[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
    )
    template = choose_template({"tokenizer.chat_template": strict})
    assert template.render(CONVERSATION[:2]) == "[user]SYS\n\nU1"


def test_broken_templates_raise_template_error():
    with pytest.raises(TemplateError, match="does not parse"):
        choose_template({"tokenizer.chat_template": "{% for %}"}).render(CONVERSATION)
    with pytest.raises(TemplateError, match="failed"):
        choose_template({"tokenizer.chat_template": "{{ raise_exception('nope') }}"}).render(
            CONVERSATION
        )


def test_the_sandbox_blocks_attribute_escapes():
    evil = "{{ messages.__class__.__mro__ }}"
    with pytest.raises(TemplateError):
        choose_template({"tokenizer.chat_template": evil}).render(CONVERSATION)
