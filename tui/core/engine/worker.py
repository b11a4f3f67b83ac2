"""The child process that runs one local model: the only place `llama_cpp` is imported.

Started with multiprocessing's "spawn" context by `LocalBackend`, one process per loaded model, so a
native crash on a bad file ends this process and never the UI, Stop can end prompt processing by
ending the process, and unloading returns every byte. Its stdout/stderr go to a log file: native
aborts print there, and the parent reads the tail to explain a crash.

Protocol over a duplex Pipe (tuples; `rid` is the parent's request id):

    parent -> worker   ("generate", rid, messages, sampling)  ("count", rid, messages)
                       ("template", rid, choice)              ("close",)
    worker -> parent   ("ready", info) | ("fail", kind, message)         once, after loading
                       ("prompt", rid, n_prompt)  ("tokens", rid, text, n_completion)
                       ("done", rid, stats)  ("count", rid, n)  ("template", rid, info)
                       ("error", rid, kind, message)

Two shared integers: `cancel` (every request with rid <= cancel is to stop) is polled once per
token; `prompt_phase` holds the rid whose prompt is being processed, which the parent ends by ending
the process. The library's own streaming is not used: it stalls on an orphaned partial UTF-8 byte
and re-detokenizes the whole answer per token (docs/dependencies.md); this loop decodes each token's bytes
incrementally instead.

Two options shape the loop: a response format becomes a llama.cpp grammar in the sampler chain (checked
by llama.cpp's parser first), and prompt lookup (`prompt_lookup` > 0 at load) sends `generate` tokens
drafted from the conversation itself, counted in the answer's stats.
"""

from __future__ import annotations

import codecs
import ctypes
import json
import os
import random
import re
import sys
import time
from collections import deque

from tui.core.engine.base import takes_every_core

_OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
# Tokens arriving faster than this are sent together; the first goes at once. Each send wakes two
# threads in the app; when the model's threads take every core each wakeup stalls them, so then
# text goes a few times a second: the chat screen shows it about once a second anyway.
FLUSH_SECONDS = 0.015
FLUSH_SECONDS_NO_SPARE_CORE = 0.25
LOG_LINES = 400  # llama.cpp log lines kept for messages and the load report


def main(
    conn, path: str, options: dict, template_choice, family_hint, cancel, prompt_phase, log_path: str
) -> None:
    """Entry point of the worker process."""
    redirect_output(log_path)
    # On abort ggml would attach gdb to print a backtrace: slow, and noise in the crash message.
    os.environ["GGML_NO_BACKTRACE"] = "1"
    try:
        worker = _Worker(conn, path, options, template_choice, family_hint, cancel, prompt_phase)
    except _Failure as failure:
        conn.send(("fail", failure.kind, failure.message))
        return
    conn.send(("ready", worker.info()))
    worker.serve()


def redirect_output(log_path: str) -> None:
    # Native code writes to fds 1 and 2 directly; in a TUI that would draw over the screen.
    # Readable too: the worker quotes what llama.cpp printed there (a grammar's parse error).
    fd = os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


class _Failure(Exception):
    """A load or a request that failed: `kind` and `message` are the EngineError's."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class StopScanner:
    """Cuts the answer at the first stop string; holds back text that may be the start of one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to emit now, whether a stop string was reached)."""
        if not self.stops:
            return text, False
        self.pending += text
        cut = min((i for i in (self.pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            out, self.pending = self.pending[:cut], ""
            return out, True
        hold = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.pending)), hold, -1):
                if self.pending.endswith(stop[:n]):
                    hold = n
                    break
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(out) :]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


class _Worker:
    def __init__(self, conn, path, options, template_choice, family_hint, cancel, prompt_phase) -> None:
        self.conn = conn
        self.path = path
        self.family_hint = family_hint
        self.cancel = cancel
        self.prompt_phase = prompt_phase
        self.deferred: deque = deque()
        self.logs: deque[str] = deque(maxlen=LOG_LINES)
        started = time.perf_counter()

        import llama_cpp

        self.llama_cpp = llama_cpp
        self._capture_logs()
        self.gpu_offload = bool(llama_cpp.llama_supports_gpu_offload())
        kwargs = dict(
            model_path=path,
            n_ctx=options["n_ctx"],
            n_gpu_layers=options["n_gpu_layers"],
            seed=options["seed"],
            use_mmap=options["use_mmap"],
            # Checking drafted tokens needs the logits of every position in a batch.
            logits_all=options["prompt_lookup"] > 0,
            verbose=False,
        )
        if options["n_threads"]:
            kwargs["n_threads"] = kwargs["n_threads_batch"] = options["n_threads"]
        try:
            self.llm = llama_cpp.Llama(**kwargs)
        except Exception as error:
            raise self._load_failure(error) from None
        self.load_seconds = time.perf_counter() - started
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._piece_buffer = ctypes.create_string_buffer(64)
        self.n_ctx = self.llm.n_ctx()
        self.drafter = None
        if options["prompt_lookup"] > 0:
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

            self.drafter = LlamaPromptLookupDecoding(num_pred_tokens=options["prompt_lookup"])
        self._set_template(template_choice)
        self._warm_up()
        busy = takes_every_core(self.llm.n_threads, self._offloaded_layers())
        self.flush_seconds = FLUSH_SECONDS_NO_SPARE_CORE if busy else FLUSH_SECONDS

    # -- loading ---------------------------------------------------------------------------------

    def _capture_logs(self) -> None:
        """Keep llama.cpp's log lines (offload report, the real reason a load failed) instead of printing."""
        llama_cpp = self.llama_cpp
        logs = self.logs
        # The load report is kept apart: on a GPU build llama.cpp logs on every decode, and the
        # recent-lines window would lose it before the model info is asked for.
        report = self.load_report = []

        @llama_cpp.llama_log_callback
        def callback(level, text, user_data):
            line = text.decode("utf-8", "replace")
            if level == 5 and logs:  # GGML_LOG_LEVEL_CONT: continues the previous line
                logs[-1] += line
            else:
                logs.append(line)
            if "offloaded" in line or "using device" in line:
                report.append(line.strip())

        self._log_callback = callback  # a ctypes callback must outlive its registration
        llama_cpp.llama_log_set(callback, None)

    def _load_failure(self, error: Exception) -> _Failure:
        errors = [line.strip() for line in self.logs if "error" in line.lower() or "unknown" in line.lower()]
        detail = errors[-1] if errors else str(error)
        if "unknown model architecture" in detail or "unsupported model architecture" in detail:
            return _Failure("unsupported", f"llama.cpp {self.llama_cpp.__version__} cannot run it: {detail}")
        return _Failure("bad_file", f"llama.cpp could not load it: {detail}")

    def _set_template(self, choice) -> None:
        from tui.core.engine.templates import choose_template

        self.template = choose_template(
            self.llm.metadata, os.path.basename(self.path), choice, self.family_hint
        )
        # Stop strings that are control tokens are matched by id: the text scanner would never see them.
        ids = {stop: self._control_token(stop) for stop in self.template.stop}
        self.stop_ids = {i for i in ids.values() if i is not None}
        self.text_stops = tuple(stop for stop, i in ids.items() if i is None)
        self._find_reasoning_markers()

    def _control_token(self, text: str) -> int | None:
        """The id of `text` when it is one special token, which detokenizes to nothing (with
        special=False); else None."""
        ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
        return ids[0] if len(ids) == 1 and self._piece(ids[0], special=False) == b"" else None

    def _find_reasoning_markers(self) -> None:
        """Reasoning markers that are control tokens (Command R7B's) would detokenize to nothing:
        those are shown, so the answer's reader can keep the reasoning apart. And whether the format
        opens reasoning in its prompt, so the answer starts inside it."""
        from tui.core.chat.reasoning import KNOWN_MARKERS

        markers = (m for pair in KNOWN_MARKERS for m in pair)
        self.shown_ids = {i for i in map(self._control_token, markers) if i is not None}
        self.reasoning_opened = self.template.opened_reasoning()

    def _warm_up(self) -> None:
        """Generate one token now, while the user types: the first answer then does not pay for
        llama.cpp's first decode and sampler set-up (see bench/README.md, "Chat")."""
        token = self.llm.token_bos()
        generator = self.llm.generate([token if token >= 0 else 0], temp=0.0)
        try:
            next(generator)
        except Exception as error:  # a model that cannot decode fails like a bad file
            raise self._load_failure(error) from None
        finally:
            generator.close()
        self.llm.reset()  # the first prompt starts at position 0 (generate drops the stale cache)

    def _offloaded_layers(self) -> tuple[int, int] | None:
        """(layers on the GPU, layers in all) as llama.cpp reported them; None on a CPU-only build."""
        counted = [m for m in (_OFFLOADED.search(line) for line in self.load_report) if m]
        return (int(counted[-1].group(1)), int(counted[-1].group(2))) if counted else None

    def info(self) -> dict:
        """The `ModelInfo` fields (all but `location`), by name."""
        metadata = self.llm.metadata
        return {
            "name": metadata.get("general.name") or os.path.basename(self.path),
            "context_size": self.n_ctx,
            "trained_context": self.llama_cpp.llama_model_n_ctx_train(self.llm.model),
            "architecture": metadata.get("general.architecture"),
            "template_name": self.template.name,
            "template_label": self.template.label,
            "template_source": self.template.source,
            "template_reason": self.template.reason,
            "reasoning_opened": self.reasoning_opened,
            "load_seconds": self.load_seconds,
            "llama_cpp_version": self.llama_cpp.__version__,
            "gpu_offload_supported": self.gpu_offload,
            "n_layers": self.llama_cpp.llama_model_n_layer(self.llm.model),
            "offload_report": tuple(self.load_report),
            "offloaded_layers": self._offloaded_layers(),
            "n_threads": self.llm.n_threads,
        }

    # -- serving ---------------------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            message = self.deferred.popleft() if self.deferred else self._recv()
            if message is None or message[0] == "close":
                break
            self._handle(message)
        self.llm.close()  # frees the model now (`del` alone may not: docs/dependencies.md)

    def _recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return None  # the parent is gone

    def _handle(self, message) -> None:
        kind, rid = message[0], message[1]
        try:
            if kind == "generate":
                self._generate(rid, message[2], message[3])
            elif kind == "count":
                self.conn.send(("count", rid, len(self._prompt_tokens(message[2]))))
            elif kind == "template":
                self._set_template(message[2])
                self.conn.send(("template", rid, self.info()))
        except _Failure as error:
            self.conn.send(("error", rid, error.kind, error.message))

    def _piece(self, token: int, special: bool) -> bytes:
        """The bytes of one token, through llama.cpp's C API (a negative count: the size needed)."""
        buffer = self._piece_buffer
        n = self.llama_cpp.llama_token_to_piece(self.vocab, token, buffer, len(buffer), 0, special)
        if n < 0:
            buffer = self._piece_buffer = ctypes.create_string_buffer(-n)
            n = self.llama_cpp.llama_token_to_piece(self.vocab, token, buffer, -n, 0, special)
        return buffer.raw[:n]

    def _prompt_tokens(self, messages: list[dict]) -> list[int]:
        from tui.core.engine.templates import TemplateError

        metadata = self.llm.metadata
        bos_id, eos_id = self.llm.token_bos(), self.llm.token_eos()
        bos = self._piece(bos_id, special=True).decode("utf-8", "replace") if bos_id >= 0 else ""
        eos = self._piece(eos_id, special=True).decode("utf-8", "replace") if eos_id >= 0 else ""
        try:
            text = self.template.render(messages, bos_token=bos, eos_token=eos)
        except TemplateError as error:
            raise _Failure("other", str(error)) from None
        add_bos = metadata.get("tokenizer.ggml.add_bos_token", "true") != "false" and bos_id >= 0
        try:
            tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        except RuntimeError as error:
            raise _Failure("bad_file", f"the tokenizer failed: {error}") from None
        # Templates that write the BOS text themselves, plus the tokenizer's own: keep one.
        if add_bos and len(tokens) > 1 and tokens[0] == tokens[1] == bos_id:
            tokens = tokens[1:]
        return tokens

    def _cancelled(self, rid: int) -> bool:
        return rid <= self.cancel.value

    def _generate(self, rid: int, messages: list[dict], sampling: dict) -> None:
        llama_cpp = self.llama_cpp
        if self._cancelled(rid):
            cancelled = {"finish_reason": "cancelled", "prompt_tokens": 0, "completion_tokens": 0}
            self.conn.send(("done", rid, cancelled))
            return
        tokens = self._prompt_tokens(messages)
        n_prompt = len(tokens)
        if n_prompt >= self.n_ctx:
            raise _Failure(
                "context",
                f"the prompt takes {n_prompt:,} tokens and the context holds {self.n_ctx:,}: "
                "shorten the conversation or load the model with a longer context",
            )
        self.conn.send(("prompt", rid, n_prompt))
        seed = sampling.get("seed")
        self.llm.set_seed(seed if seed is not None and seed >= 0 else random.getrandbits(32))
        max_tokens = sampling["max_tokens"] if sampling["max_tokens"] > 0 else self.n_ctx
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        scanner = StopScanner(self.text_stops)
        finish = "stop"
        produced = 0
        pending: list[str] = []
        last_flush = 0.0
        first_at = last_at = 0.0  # the model's own pace, whatever delivery to the UI costs
        grammar = self._grammar(sampling.get("response_format"))
        self.prompt_phase.value = rid
        generator = self.llm.generate(
            tokens,
            top_k=sampling["top_k"],
            top_p=sampling["top_p"],
            min_p=sampling["min_p"],
            temp=sampling["temperature"],
            repeat_penalty=sampling["repeat_penalty"],
            reset=True,
            grammar=grammar,
        )
        drafts = _Drafts(self.drafter, tokens, self.n_ctx) if self.drafter else None
        proposal = None
        try:
            while True:
                # `generate` evaluates what is sent with a token in the same batch as that token
                # and samples every position in turn, keeping a drafted token only where the model
                # chose it itself: the answer is the model's own, up to the batch's arithmetic
                # (docs/dependencies.md).
                token = generator.send(proposal)
                proposal = None
                self.prompt_phase.value = 0
                if self._cancelled(rid):
                    finish = "cancelled"
                    break
                if llama_cpp.llama_vocab_is_eog(self.vocab, token) or token in self.stop_ids:
                    break
                produced += 1
                last_at = time.perf_counter()
                if produced == 1:
                    first_at = last_at
                piece = self._piece(token, special=token in self.shown_ids)
                text, stopped = scanner.feed(decoder.decode(piece))
                if text:
                    pending.append(text)
                if stopped:
                    break
                if produced >= max_tokens:
                    finish = "length"
                    break
                if n_prompt + produced >= self.n_ctx:
                    finish = "context"
                    break
                if drafts is not None:
                    proposal = drafts.after(token, max_tokens - produced)
                if pending and last_at - last_flush >= self.flush_seconds:
                    self.conn.send(("tokens", rid, "".join(pending), produced))
                    pending.clear()
                    last_flush = last_at
                    self._serve_counts()
        except StopIteration:
            pass
        except Exception as error:  # a failed decode: report it, keep the model usable
            self.prompt_phase.value = 0
            raise _Failure("other", f"generation failed: {error}") from None
        finally:
            generator.close()
        # Text held back as a possible stop string was not one; an unfinished character becomes U+FFFD.
        text = "".join(pending) + scanner.flush() + decoder.decode(b"", final=True)
        if text:
            self.conn.send(("tokens", rid, text, produced))
        done = {"finish_reason": finish, "prompt_tokens": n_prompt, "completion_tokens": produced}
        done["generation_seconds"] = last_at - first_at
        if drafts is not None:
            done.update(draft_proposed=drafts.proposed, draft_accepted=drafts.accepted)
        self.conn.send(("done", rid, done))

    def _grammar(self, response_format: dict | None):
        """The LlamaGrammar for a response format (None: free text), parsed by llama.cpp first: a
        grammar it refuses would otherwise be added to the sampler chain as a null sampler and crash
        the process on the first token."""
        if not response_format:
            return None
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar, json_schema_to_gbnf

        kind = response_format["kind"]
        if kind == "json_schema":
            try:
                text = json_schema_to_gbnf(json.dumps(response_format["schema"]))
            except Exception as error:  # the converter asserts on what it does not support
                raise _Failure(
                    "unsupported", f"llama.cpp cannot constrain answers to this schema: {error}"
                ) from None
        else:
            text = JSON_GBNF if kind == "json_object" else response_format["grammar"]
        sampler = self.llama_cpp.llama_sampler_init_grammar(self.vocab, text.encode(), b"root")
        if not sampler:
            raise _Failure("unsupported", f"llama.cpp refused the grammar: {self._grammar_complaint()}")
        self.llama_cpp.llama_sampler_free(sampler)
        return LlamaGrammar.from_string(text)

    def _grammar_complaint(self) -> str:
        """What llama.cpp said about a grammar it refused (it writes parse errors to stderr)."""
        lines = list(self.logs) + _own_output_tail()
        said = [line.strip() for line in lines if "parsing grammar" in line or "recursion" in line]
        return said[-1] if said else "it does not parse"

    def _serve_counts(self) -> None:
        """Answer token counts while generating (the UI's context meter); defer anything else."""
        while self.conn.poll():
            message = self._recv()
            if message is None:
                return
            if message[0] == "count":
                self._handle(message)
            else:
                self.deferred.append(message)


def _own_output_tail(window: int = 4096) -> list[str]:
    """The last lines this process wrote to its log (fd 2; the file itself may be unlinked)."""
    try:
        size = os.fstat(2).st_size
        return os.pread(2, window, max(0, size - window)).decode("utf-8", "replace").splitlines()
    except OSError:
        return []


class _Drafts:
    """Prompt-lookup drafts: what to send `generate` after each token, and how many were kept.

    After a batch of drafts is sent, the tokens that come back are checked against them in order: a
    match is a draft the model confirmed, and `generate` goes on sampling that batch; a mismatch, or
    the token after the last draft, ends the batch, and the next drafts go with that token.
    """

    def __init__(self, drafter, prompt: list[int], n_ctx: int) -> None:
        import numpy as np

        self.drafter = drafter
        self.context = np.empty(n_ctx, dtype=np.intc)  # the prompt, then every answer token
        self.context[: len(prompt)] = prompt
        self.length = len(prompt)
        self.checking: deque[int] = deque()  # sent drafts not yet confirmed or refused
        self.proposed = 0
        self.accepted = 0

    def after(self, token: int, tokens_left: int) -> list[int] | None:
        """The drafts to send with this token (None: it is not the end of a batch, or none found)."""
        self.context[self.length] = token
        self.length += 1
        if self.checking:
            if token == self.checking[0]:
                self.accepted += 1
                self.checking.popleft()
                return None
            self.checking.clear()
        # Room for the token itself and one sampled after the drafts, within the answer and context.
        room = min(tokens_left - 1, len(self.context) - self.length - 1)
        if room <= 0:
            return None
        drafts = self.drafter(self.context[: self.length])[:room].tolist()
        self.proposed += len(drafts)
        self.checking.extend(drafts)
        return drafts or None
