"""Chat templates: how a conversation becomes the prompt text a model was trained on.

Precedence: an explicit user choice wins; otherwise the template embedded in the GGUF
(`tokenizer.chat_template`), rendered in a sandboxed Jinja environment as llama.cpp and Hugging Face
do; otherwise a known format guessed from the model's family (its name, architecture and file name),
flagged as a guess so the UI can warn; and when nothing matches, ChatML, flagged as a guess the user
should check.

Every format is a Jinja template, so embedded and known formats go through the same renderer. Known
formats do not emit the BOS token (the tokenizer adds it when the model wants one); GGUF templates
receive `bos_token`, and the tokenizer's duplicate BOS is dropped by the engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from tui.core.errors import LlmtuiError

GGUF = "gguf"  # the name of the embedded template, also a valid user choice


class TemplateError(LlmtuiError):
    """A template that cannot render this conversation (syntax error, or it refuses the roles given)."""


@dataclass(frozen=True)
class KnownFormat:
    label: str
    jinja: str
    # Text that ends an answer besides the model's end-of-generation tokens.
    stop: tuple[str, ...] = ()
    # The system prompt the format was trained with, used when the user gives none.
    default_system: str = ""


_SYSTEM_FIRST = (
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set system = messages[0]['content'] %}{% set messages = messages[1:] %}"
    "{% else %}{% set system = '' %}{% endif %}"
)

KNOWN_FORMATS: dict[str, KnownFormat] = {
    "chatml": KnownFormat(
        "ChatML",
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        stop=("<|im_end|>",),
    ),
    "llama-2": KnownFormat(
        "Llama-2-chat",
        _SYSTEM_FIRST + "{% for m in messages %}"
        "{% if m['role'] == 'user' %}"
        "{% if not loop.first %}<s>{% endif %}"
        "[INST] {% if loop.first and system %}<<SYS>>\n{{ system }}\n<</SYS>>\n\n{% endif %}"
        "{{ m['content'] }} [/INST]"
        "{% else %} {{ m['content'] }} </s>{% endif %}{% endfor %}",
    ),
    "llama-3": KnownFormat(
        "Llama-3",
        "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
        "{{ m['content'] }}<|eot_id|>{% endfor %}"
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
        stop=("<|eot_id|>",),
    ),
    "mistral": KnownFormat(
        "Mistral [INST]",
        _SYSTEM_FIRST + "{% for m in messages %}"
        "{% if m['role'] == 'user' %}"
        "[INST] {% if loop.first and system %}{{ system }}\n\n{% endif %}{{ m['content'] }} [/INST]"
        "{% else %}{{ m['content'] }}</s>{% endif %}{% endfor %}",
    ),
    "zephyr": KnownFormat(
        "Zephyr",
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
        stop=("</s>", "<|user|>"),
    ),
    "vicuna": KnownFormat(
        "Vicuna",
        _SYSTEM_FIRST + "{% if system %}{{ system }}\n\n{% endif %}"
        "{% for m in messages %}"
        "{% if m['role'] == 'user' %}USER: {{ m['content'] }}\n"
        "{% else %}ASSISTANT: {{ m['content'] }}</s>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}",
        stop=("USER:", "</s>"),
        default_system=(
            "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
            "helpful, detailed, and polite answers to the user's questions."
        ),
    ),
    "alpaca": KnownFormat(
        "Alpaca",
        _SYSTEM_FIRST + "{% if system %}{{ system }}\n\n{% endif %}"
        "{% for m in messages %}"
        "{% if m['role'] == 'user' %}### Instruction:\n{{ m['content'] }}\n\n"
        "{% else %}### Response:\n{{ m['content'] }}\n\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}### Response:\n{% endif %}",
        stop=("### Instruction:",),
        default_system=(
            "Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request."
        ),
    ),
    "deepseek": KnownFormat(
        "DeepSeek",
        _SYSTEM_FIRST + "{% if system %}{{ system }}\n\n{% endif %}"
        "{% for m in messages %}"
        "{% if m['role'] == 'user' %}User: {{ m['content'] }}\n\n"
        "{% else %}Assistant: {{ m['content'] }}<｜end▁of▁sentence｜>{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}Assistant:{% endif %}",
        stop=("User:", "<｜end▁of▁sentence｜>"),
    ),
    "deepseek-coder": KnownFormat(
        "DeepSeek-Coder",
        _SYSTEM_FIRST + "{% if system %}{{ system }}\n{% endif %}"
        "{% for m in messages %}"
        "{% if m['role'] == 'user' %}### Instruction:\n{{ m['content'] }}\n"
        "{% else %}### Response:\n{{ m['content'] }}\n<|EOT|>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}### Response:\n{% endif %}",
        stop=("<|EOT|>", "### Instruction:"),
        default_system=(
            "You are an AI programming assistant, utilizing the DeepSeek Coder model, developed by DeepSeek "
            "Company, and you only answer questions related to computer science."
        ),
    ),
    "phi-2": KnownFormat(
        "Phi-2",
        _SYSTEM_FIRST + "{% if system %}{{ system }}\n{% endif %}"
        "{% for m in messages %}"
        "{% if m['role'] == 'user' %}Instruct: {{ m['content'] }}\n"
        "{% else %}Output: {{ m['content'] }}\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}Output:{% endif %}",
        stop=("Instruct:", "<|endoftext|>"),
    ),
    "phi-3": KnownFormat(
        "Phi-3",
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
        stop=("<|end|>",),
    ),
    "gemma": KnownFormat(
        "Gemma",
        _SYSTEM_FIRST + "{% for m in messages %}"
        "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
        "{% if loop.first and system %}{{ system }}\n\n{% endif %}{{ m['content'] }}<end_of_turn>\n"
        "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}",
        stop=("<end_of_turn>",),
    ),
    "openchat": KnownFormat(
        "OpenChat",
        _SYSTEM_FIRST + "{% if system %}{{ system }}<|end_of_turn|>{% endif %}"
        "{% for m in messages %}"
        "GPT4 Correct {{ 'User' if m['role'] == 'user' else 'Assistant' }}: {{ m['content'] }}<|end_of_turn|>"
        "{% endfor %}{% if add_generation_prompt %}GPT4 Correct Assistant:{% endif %}",
        stop=("<|end_of_turn|>",),
    ),
    "chatglm3": KnownFormat(
        "ChatGLM3",
        _SYSTEM_FIRST + "[gMASK]sop{% if system %}<|system|>\n{{ system }}{% endif %}"
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}",
        stop=("<|user|>", "<|observation|>"),
    ),
    "baichuan-2": KnownFormat(
        "Baichuan 2",
        _SYSTEM_FIRST + "{{ system }}"
        "{% for m in messages %}{{ '<reserved_106>' if m['role'] == 'user' else '<reserved_107>' }}"
        "{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<reserved_107>{% endif %}",
        stop=("<reserved_106>",),
    ),
    "internlm": KnownFormat(
        "InternLM",
        _SYSTEM_FIRST + "{% if system %}<|System|>:{{ system }}\n{% endif %}"
        "{% for m in messages %}"
        "{% if m['role'] == 'user' %}<|User|>:{{ m['content'] }}<eoh>\n"
        "{% else %}<|Bot|>:{{ m['content'] }}<eoa>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|Bot|>:{% endif %}",
        stop=("<eoa>", "<|User|>"),
    ),
}
# Formats other tables (the catalogue's `prompt_format`) name differently.
ALIASES = {"internlm2": "chatml", "qwen": "chatml", "mistral-instruct": "mistral"}

# (pattern over "name basename finetune file-name", format), first match wins: specific before general.
_FAMILY_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"deepseek.?coder", "deepseek-coder"),
        (r"deepseek", "deepseek"),
        (r"llama.?3", "llama-3"),
        (r"codellama.*instruct|llama.?2.*chat", "llama-2"),
        (r"mi[sx]tral.*instruct", "mistral"),
        (r"zephyr|tinyllama.*chat", "zephyr"),
        (r"vicuna", "vicuna"),
        (r"alpaca", "alpaca"),
        (r"phi.?2", "phi-2"),
        (r"phi.?3", "phi-3"),
        (r"gemma", "gemma"),
        (r"openchat|starling", "openchat"),
        (r"chatglm", "chatglm3"),
        (r"baichuan", "baichuan-2"),
        (r"internlm.?2", "chatml"),
        (r"internlm", "internlm"),
        (r"hermes|dolphin|qwen|chatml|orca|smollm|\byi\b", "chatml"),
    )
)
# general.architecture values whose instruct models share one format.
_ARCHITECTURE_FORMATS = {
    "qwen": "chatml",
    "qwen2": "chatml",
    "qwen3": "chatml",
    "gemma": "gemma",
    "gemma2": "gemma",
    "phi2": "phi-2",
    "phi3": "phi-3",
    "chatglm": "chatglm3",
    "internlm2": "chatml",
}
FALLBACK = "chatml"


@dataclass(frozen=True)
class ChatTemplate:
    """The active prompt format, and where it came from."""

    name: str  # "gguf" or a KNOWN_FORMATS key
    source: str  # "gguf", "family" (a guess) or "user"
    jinja: str
    stop: tuple[str, ...] = ()
    default_system: str = ""
    reason: str = ""  # one line for the UI: why this template

    @property
    def label(self) -> str:
        return "embedded in the GGUF" if self.name == GGUF else KNOWN_FORMATS[self.name].label

    @property
    def is_guess(self) -> bool:
        return self.source == "family"

    def render(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        bos_token: str = "",
        eos_token: str = "",
        add_generation_prompt: bool = True,
    ) -> str:
        """The prompt text for `messages` (dicts with "role" and "content"), ready to tokenize."""
        messages = [dict(m) for m in messages]
        if self.default_system and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": self.default_system})
        # Embedded templates expect Hugging Face's whitespace rules; ours are written literally.
        template = _compile(self.jinja, hf_whitespace=self.name == GGUF)
        # Some embedded templates (Mistral's, Gemma's) refuse a system role: it goes into the first turn.
        folded = _fold_system(messages)
        failure = None
        for tried in (messages,) if folded is messages else (messages, folded):
            try:
                return template.render(
                    messages=tried,
                    bos_token=bos_token,
                    eos_token=eos_token,
                    add_generation_prompt=add_generation_prompt,
                )
            except Exception as error:
                failure = failure or error
        raise TemplateError(f"the {self.label} chat template failed: {failure}") from None

    def opened_reasoning(self) -> str:
        """The reasoning marker this format's generation prompt opens ("" when none), so an answer
        starts inside reasoning."""
        from tui.core.chat.reasoning import opened_marker

        try:
            return opened_marker(self.render([{"role": "user", "content": "?"}]))
        except TemplateError:
            return ""  # the first request will say what is wrong with the template


def choose_template(
    metadata: Mapping[str, str],
    file_name: str = "",
    choice: str | None = None,
    family_hint: str | None = None,
) -> ChatTemplate:
    """The template for a model, from its GGUF metadata (string values) and file name.

    `choice`: None for automatic; "gguf" or a KNOWN_FORMATS key (or alias) chosen by the user.
    `family_hint`: a format named by the catalogue entry the file belongs to, trusted over a name guess.
    """
    embedded = metadata.get("tokenizer.chat_template") or ""
    if choice is not None:
        if choice == GGUF:
            if not embedded:
                raise TemplateError("this model has no chat template embedded in its GGUF")
            return ChatTemplate(GGUF, "user", embedded, reason="chosen by you")
        name = ALIASES.get(choice, choice)
        if name not in KNOWN_FORMATS:
            raise TemplateError(f"unknown chat template {choice!r} (known: {', '.join(KNOWN_FORMATS)})")
        return _known(name, "user", "chosen by you")
    if embedded:
        return ChatTemplate(GGUF, GGUF, embedded, reason="embedded in the GGUF")
    hinted = ALIASES.get(family_hint or "", family_hint)
    if hinted in KNOWN_FORMATS:
        return _known(hinted, "family", f"no template in the file; the catalogue names {family_hint!r}")
    family, evidence = guess_family(metadata, file_name)
    if family is not None:
        return _known(family, "family", f"no template in the file; guessed from {evidence}")
    return _known(FALLBACK, "family", "no template in the file and no known model family: choose one")


def guess_family(metadata: Mapping[str, str], file_name: str = "") -> tuple[str | None, str]:
    """(format name, what gave it away), or (None, "") when nothing matches."""
    names = [str(metadata.get(key, "")) for key in ("general.name", "general.basename", "general.finetune")]
    haystack = " ".join([*names, file_name]).lower()
    for pattern, name in _FAMILY_RULES:
        if match := pattern.search(haystack):
            return name, f"the name ({match.group(0)!r})"
    architecture = str(metadata.get("general.architecture", ""))
    if architecture in _ARCHITECTURE_FORMATS:
        return _ARCHITECTURE_FORMATS[architecture], f"the architecture ({architecture!r})"
    return None, ""


def template_choices() -> list[tuple[str, str]]:
    """(label, name) pairs for a picker; None (automatic) is the UI's own entry."""
    return [("Embedded in the GGUF", GGUF)] + [(fmt.label, name) for name, fmt in KNOWN_FORMATS.items()]


def _known(name: str, source: str, reason: str) -> ChatTemplate:
    fmt = KNOWN_FORMATS[name]
    return ChatTemplate(name, source, fmt.jinja, fmt.stop, fmt.default_system, reason)


def _fold_system(messages: list[dict]) -> list[dict]:
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], messages[1:]
    if rest and rest[0]["role"] == "user":
        return [{"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}] + rest[1:]
    return [{"role": "user", "content": system}] + rest


def _raise(message: str) -> None:
    raise TemplateError(message)


@lru_cache(maxsize=32)
def _compile(source: str, hf_whitespace: bool):
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # As llama-cpp-python's Jinja2ChatFormatter and transformers render them.
    env = ImmutableSandboxedEnvironment(trim_blocks=hf_whitespace, lstrip_blocks=hf_whitespace)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateError(f"the chat template does not parse: {error}") from None
