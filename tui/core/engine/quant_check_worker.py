"""The child process of `quant_check`: one model over the text, chunk by chunk (imports `llama_cpp`).

One process per model, started with multiprocessing's "spawn" context, for the reasons `worker.py`
gives (a bad file can abort the process; ending it returns every byte); its output goes to a log
file the same way. Protocol over a duplex Pipe:

    worker -> parent   ("ready", {"n_vocab", "tokens", "llama_cpp_version"}) | ("fail", message)
    parent -> worker   ("load",): the weights now, after a vocabulary-only start (then "ready" again)
                       ("reference", logprobs_path, n_chunks, n_ctx)
                       ("compare", logprobs_path, n_chunks, n_ctx)          ("close",)
    worker -> parent   ("chunk", i, stats) once per chunk, then ("done",) | ("error", message)

"reference" writes the log-probabilities of the scored positions of every chunk to a float32
memmap of shape (n_chunks, n_scored, n_vocab); "compare" reads them back a chunk at a time, so
neither side holds more than one chunk of logits. A vocabulary-only start (`vocab_only`) is the
cheap tokenization check before any weights are read; the same process loads the weights later.
"""

from __future__ import annotations

import os
import signal

import numpy as np


def scored_positions(n_ctx: int) -> tuple[int, int]:
    """(first, count): the chunk positions whose logits are scored, each predicting the token after
    it: positions n_ctx/2 .. n_ctx-2, as llama.cpp's perplexity tool does."""
    first = n_ctx // 2
    return first, n_ctx - 1 - first


def main(conn, path: str, n_ctx: int, vocab_only: bool, text: str, log_path: str) -> None:
    """Entry point of the child process."""
    from tui.core.engine.worker import redirect_output

    redirect_output(log_path)
    os.environ["GGML_NO_BACKTRACE"] = "1"
    # Ctrl-C reaches the whole process group: the parent ends this process itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import llama_cpp

    loaded = _load(llama_cpp, conn, path, n_ctx, vocab_only, text)
    while loaded is not None:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "close":
            return
        if message[0] == "load":  # the weights, after a vocabulary-only start
            loaded = _load(llama_cpp, conn, path, n_ctx, False, text)
            continue
        llm, tokens = loaded
        mode, logprobs_path, n_chunks, chunk_ctx = message
        try:
            _run(llama_cpp, llm, conn, mode, tokens, logprobs_path, n_chunks, chunk_ctx)
        except _DecodeError as error:
            conn.send(("error", str(error)))
            return
        conn.send(("done",))
        llm.close()
        return


def _load(llama_cpp, conn, path, n_ctx, vocab_only, text):
    """Load the file and tokenize the text; tell the parent ("ready" or "fail"). (llm, tokens), or
    None when it failed."""
    try:
        llm = llama_cpp.Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_batch=n_ctx,  # one decode per chunk, as llama.cpp's perplexity tool with -b >= -c
            n_ubatch=n_ctx,
            vocab_only=vocab_only,
            verbose=False,
        )
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    except Exception as error:
        conn.send(("fail", f"llama.cpp could not load it: {error}"))
        return None
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    info = {
        "n_vocab": llama_cpp.llama_vocab_n_tokens(vocab),
        "tokens": tokens,
        "llama_cpp_version": llama_cpp.__version__,
    }
    conn.send(("ready", info))
    return llm, tokens


class _DecodeError(Exception):
    pass


def _run(llama_cpp, llm, conn, mode, tokens, logprobs_path, n_chunks, n_ctx) -> None:
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    first, n_scored = scored_positions(n_ctx)
    shape = (n_chunks, n_scored, n_vocab)
    reference = np.lib.format.open_memmap(
        logprobs_path, mode="w+" if mode == "reference" else "r", dtype=np.float32, shape=shape
    )
    add_bos = llama_cpp.llama_vocab_get_add_bos(vocab)
    bos = llama_cpp.llama_vocab_bos(vocab)
    batch = llama_cpp.llama_batch_init(n_ctx, 0, 1)
    try:
        for i in range(n_chunks):
            chunk = tokens[i * n_ctx : (i + 1) * n_ctx]
            # Every chunk starts afresh: an empty cache and, where the model wants one, a BOS in
            # place of the chunk's first token (never a scored one).
            if add_bos:
                chunk[0] = bos
            log_probs = _chunk_log_probs(llama_cpp, llm, batch, chunk, first, n_vocab)
            targets = np.asarray(tokens[i * n_ctx + first + 1 : (i + 1) * n_ctx], dtype=np.int64)
            rows = np.arange(n_scored)
            nll = -log_probs[rows, targets].astype(np.float64)
            if mode == "reference":
                reference[i] = log_probs
                stats = {"nll": nll.tolist()}
            else:
                base = np.asarray(reference[i])
                p_base = np.exp(base)
                # KL(base || model) per position, summed in float64 over the vocabulary.
                kl = np.einsum("ij,ij->i", p_base, base - log_probs, dtype=np.float64)
                same_top = int(np.count_nonzero(base.argmax(axis=1) == log_probs.argmax(axis=1)))
                stats = {
                    "nll": nll.tolist(),
                    "nll_base": (-base[rows, targets].astype(np.float64)).tolist(),
                    "kl": kl.tolist(),
                    "same_top": same_top,
                }
            conn.send(("chunk", i, stats))
        if mode == "reference":
            reference.flush()
    finally:
        llama_cpp.llama_batch_free(batch)
        del reference


def _chunk_log_probs(llama_cpp, llm, batch, chunk, first, n_vocab) -> np.ndarray:
    """One chunk through the model from an empty cache; the log-softmax of the logits of the
    scored positions (only those are asked for: llama.cpp computes no others)."""
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
    n = len(chunk)
    batch.n_tokens = n
    for pos, token in enumerate(chunk):
        batch.token[pos] = token
        batch.pos[pos] = pos
        batch.n_seq_id[pos] = 1
        batch.seq_id[pos][0] = 0
        batch.logits[pos] = first <= pos < n - 1
    if llama_cpp.llama_decode(llm.ctx, batch) != 0:
        raise _DecodeError("llama.cpp could not evaluate the text (llama_decode failed)")
    n_out = n - 1 - first
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(n_out * n_vocab,))
    logits = logits.reshape(n_out, n_vocab)
    peak = logits.max(axis=1, keepdims=True)
    shifted = logits - peak
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True, dtype=np.float64)).astype(np.float32)
