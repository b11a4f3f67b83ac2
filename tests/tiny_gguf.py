"""Tiny deterministic GGUF models for exact assertions about inference.

A one-layer llama whose attention and feed-forward weights are zero, so the hidden state at each
position is just the one-hot embedding of the current token. The output matrix maps every token to the
next piece of a chosen script (and the script's last piece to end-of-sequence), with a logit gap so
large that any sampling settings pick it: whatever the prompt, decoding emits exactly the script.

Each script piece is its own user-defined token, so pieces can be anything, hostile strings included
(markup, escape sequences, half code fences, CJK, emoji). 256 byte tokens give the tokenizer its byte
fallback, which llama.cpp needs to tokenize arbitrary prompts without aborting. User-defined tokens
also match inside the prompt, so a piece the prompt ends with (such as "\n" after ChatML's
"assistant") makes decoding start from that piece's successor: keep such pieces out of scripts.

`layers`/`width` scale the same model up (zero weights still cost real compute), for speed checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gguf
import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def write_tiny_gguf(
    path: Path,
    script: Sequence[str],
    *,
    chat_template: str | None = CHATML_TEMPLATE,
    name: str = "tiny-script",
    context_length: int = 2048,
    layers: int = 1,
    width: int | None = None,
    ff_width: int = 32,
    dtype: type = np.float32,
    split_max_tensors: int = 0,
    architecture: str = "llama",
) -> Path:
    """Write a GGUF whose greedy (and any) decoding emits `"".join(script)` then stops.

    `split_max_tensors`: written as llama.cpp's split files instead (`NAME-00001-of-0000N.gguf`
    next to `path`, at most that many tensors each); returns the first. `architecture`: the name
    written in the header (another one makes a file llama.cpp refuses)."""
    if len(set(script)) != len(script):
        raise ValueError("script pieces must be unique: each is its own token")
    specials = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tokens = specials + [f"<0x{b:02X}>" for b in range(256)] + list(script)
    types = (
        [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
        + [gguf.TokenType.CONTROL] * 2
        + [gguf.TokenType.BYTE] * 256
        + [gguf.TokenType.USER_DEFINED] * len(script)
    )
    n_vocab = len(tokens)
    eos = 2
    first_piece = len(specials) + 256
    n_embd = max(width or 0, ((n_vocab + 31) // 32) * 32)
    n_head = 1 if width is None else max(1, n_embd // 128)

    # next_token[i]: what follows token i.
    next_token = np.full(n_vocab, first_piece if script else eos)
    for i in range(len(script)):
        next_token[first_piece + i] = first_piece + i + 1 if i + 1 < len(script) else eos

    embed = np.zeros((n_vocab, n_embd), dtype=np.float32)
    embed[np.arange(n_vocab), np.arange(n_vocab)] = 1.0
    output = np.zeros((n_vocab, n_embd), dtype=np.float32)
    # After RMS norm a one-hot row becomes sqrt(n_embd) at its index: a gap of ~100 logits.
    output[next_token, np.arange(n_vocab)] = 100.0 / np.sqrt(n_embd)

    writer = gguf.GGUFWriter(str(path), architecture, split_max_tensors=split_max_tensors)
    writer.add_name(name)
    writer.add_context_length(context_length)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff_width)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(
        gguf.LlamaFileType.ALL_F32 if dtype == np.float32 else gguf.LlamaFileType.MOSTLY_F16
    )
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * n_vocab)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(eos)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(False)
    writer.add_add_space_prefix(False)
    if chat_template is not None:
        writer.add_chat_template(chat_template)

    writer.add_tensor("token_embd.weight", embed.astype(dtype))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", output.astype(dtype))
    square = np.zeros((n_embd, n_embd), dtype=dtype)
    for layer in range(layers):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"{block}.{part}.weight", square)
        writer.add_tensor(f"{block}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"{block}.ffn_gate.weight", np.zeros((ff_width, n_embd), dtype=dtype))
        writer.add_tensor(f"{block}.ffn_up.weight", np.zeros((ff_width, n_embd), dtype=dtype))
        writer.add_tensor(f"{block}.ffn_down.weight", np.zeros((n_embd, ff_width), dtype=dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if split_max_tensors:
        return min(path.parent.glob(f"{path.stem}-00001-of-*.gguf"))
    return path
