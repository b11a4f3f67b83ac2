"""Models served by OpenAI-compatible servers, behind the same `Backend` as local GGUF files.

llama.cpp's `llama-server`, llama-cpp-python's server, vLLM and Ollama all speak the
chat-completions API; the `openai` client does the HTTP, the server-sent events and the retries
(429/5xx, with backoff and the server's `Retry-After`). This module adds what a chat needs on top:
per-answer stats like a local model's, a stop that closes the stream at once from any thread, and
failures turned into `EngineError`s a user can act on (refused, DNS, TLS, timeout, 401/403, unknown
model, 429/5xx, a stream cut midway).

A remote model is written `URL#MODEL` (`http://127.0.0.1:8080/v1#smollm2`) or `ENDPOINT#MODEL` for
an endpoint saved in the settings. API keys come from the environment variable an endpoint names or
from the OS keyring; they are sent in the Authorization header and appear nowhere else (not in
labels, locations, messages or logs).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpcore2
import httpx2
import openai

from tui.core.config.settings import Endpoint, Settings
from tui.core.engine.base import (
    AnswerStats,
    Backend,
    DoneEvent,
    EngineError,
    FinishReason,
    Message,
    ModelInfo,
    SamplingOptions,
    StreamEvent,
    TokenEvent,
)
from tui.core.engine.structured import ResponseFormat
from tui.core.text import one_line

KEYRING_SERVICE = "llmtui"  # keyring entries: service "llmtui", user = the endpoint's name
# Seconds without a byte before giving up. Generous: a big model's prompt processing on a CPU server
# can take minutes before the first token (Open WebUI waits 300 s too).
READ_TIMEOUT = 300.0
CONNECT_TIMEOUT = 5.0
MAX_RETRIES = 2  # for 429/5xx and failed connections, with exponential backoff
# The context assumed when a server does not say (llama-cpp-python, Ollama): llmtui's own default.
# Too small only trims history early; too large, the server's "context exceeded" comes back as such.
DEFAULT_CONTEXT = 4096
# Role markers a chat template adds around each message (ChatML: 4-5 tokens).
TEMPLATE_TOKENS_PER_MESSAGE = 4


# -- specs, URLs and keys --------------------------------------------------------------------------


def normalise_url(url: str) -> str:
    """`http://host:port` -> `http://host:port/v1` (the usual API root); EngineError if no URL."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EngineError(
            f"not a server URL: {one_line(text)!r} (expected e.g. http://127.0.0.1:8080/v1)",
            "other",
        )
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def open_remote(spec: str, settings: Settings, **options) -> RemoteBackend:
    """A backend (not loaded yet) for `URL#MODEL` or `ENDPOINT#MODEL`; EngineError if neither.

    A URL that a saved endpoint also has uses that endpoint's API key.
    """
    where, sep, model = spec.partition("#")
    if not sep or not where or not model:
        raise EngineError(
            f"not a remote model: {one_line(spec)!r} (write URL#MODEL or ENDPOINT#MODEL)",
            "not_found",
        )
    if where.startswith(("http://", "https://")):
        url = normalise_url(where)
        endpoint = next((e for e in settings.endpoints if _same_url(e.url, url)), None)
    else:
        endpoint = settings.endpoint(where)
        if endpoint is None:
            known = ", ".join(e.name for e in settings.endpoints) or "none saved"
            raise EngineError(f"no endpoint named {one_line(where)!r} (endpoints: {known})", "not_found")
        url = endpoint.url
    return RemoteBackend(url, model, **(endpoint_options(endpoint) if endpoint else {}), **options)


def _same_url(a: str, b: str) -> bool:
    try:
        return normalise_url(a) == normalise_url(b)
    except EngineError:
        return False


def endpoint_options(endpoint: Endpoint) -> dict:
    """A RemoteBackend's options for a saved endpoint: its API key, its name, where the key comes from."""
    key = endpoint_api_key(endpoint)
    return {"api_key": key, "endpoint_name": endpoint.name, "key_source": key_source(endpoint)}


def endpoint_api_key(endpoint: Endpoint) -> str | None:
    """The endpoint's API key: its environment variable if set, else its keyring entry, or None."""
    if endpoint.api_key_env and os.environ.get(endpoint.api_key_env):
        return os.environ[endpoint.api_key_env]
    if not endpoint.use_keyring:
        return None
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise EngineError(
            f"endpoint {endpoint.name!r} reads its API key from the OS keyring, but the keyring "
            "package is not installed (pip install keyring, or name an environment variable)",
            "auth",
        ) from None
    try:
        return keyring.get_password(KEYRING_SERVICE, endpoint.name)
    except keyring.errors.KeyringError as error:
        raise EngineError(
            f"the OS keyring could not be read for endpoint {endpoint.name!r}: {type(error).__name__}",
            "auth",
        ) from None


def key_source(endpoint: Endpoint) -> str:
    """Where the endpoint's key is read from, in words (never the key itself)."""
    sources = []
    if endpoint.api_key_env:
        state = "set" if os.environ.get(endpoint.api_key_env) else "not set"
        sources.append(f"environment variable {endpoint.api_key_env} ({state})")
    if endpoint.use_keyring:
        sources.append(f"OS keyring entry {KEYRING_SERVICE}/{endpoint.name}")
    if not sources:
        return f"no API key configured for endpoint {endpoint.name!r}"
    return "the key comes from " + ", else ".join(sources)


def list_models(base_url: str, api_key: str | None = None, **options) -> list[str]:
    """The ids of the models a server offers (`/v1/models`). Raises EngineError."""
    backend = RemoteBackend(base_url, "", api_key, **options)
    try:
        return backend.list_models()
    finally:
        backend.close()


# -- the backend -----------------------------------------------------------------------------------


class RemoteBackend(Backend):
    """One model on an OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        endpoint_name: str | None = None,
        *,
        key_source: str | None = None,
        timeout: float = READ_TIMEOUT,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.base_url = normalise_url(base_url)
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self._key = api_key or ""
        self._key_source = key_source or (
            "the key was given directly" if api_key else "no API key is configured for it"
        )
        self.server = endpoint_name or urlsplit(self.base_url).netloc
        self.label = f"{model} @ {self.server}"
        # Every credential is explicit: the client would otherwise read OPENAI_API_KEY,
        # OPENAI_ADMIN_KEY, OPENAI_ORG_ID and OPENAI_PROJECT_ID and send them to whatever server
        # this is. Without a key no Authorization header is sent at all (the client wants that
        # said on each request).
        self._headers = {} if self._key else {"Authorization": openai.Omit()}
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=self._key,
            admin_api_key="",
            organization="",
            project="",
            timeout=httpx2.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            max_retries=max_retries,
        )
        self._lock = threading.Lock()
        self._response: httpx2.Response | None = None  # the answer in flight, for stop()
        self._stopping = threading.Event()
        self._info: ModelInfo | None = None
        # The server refuses fields beyond OpenAI's own (top_k, stream_options...): send none.
        self._strict = False
        # The server's token counting URL; None: not probed yet, "": it has none.
        self._tokenize_url: str | None = None
        #: False while count_tokens() uses the server's tokenizer; True when it can only estimate.
        self.count_is_estimate = True

    @property
    def location(self) -> str:
        return f"{self.base_url}#{self.model}"

    # -- models ------------------------------------------------------------------------------------

    def list_models(self) -> list[str]:
        return [m.id for m in self._models()]

    def _models(self) -> list:
        try:
            return list(self._client.models.list(extra_headers=self._headers))
        except openai.NotFoundError:
            raise EngineError(
                f"{self.server}: no OpenAI-compatible API at {self.base_url} (404 on /models); "
                "the URL usually ends in /v1",
                "not_found",
            ) from None
        except (openai.APIError, ValueError) as error:
            raise self._error(error) from None

    def load(self) -> ModelInfo:
        start = time.perf_counter()
        models = self._models()
        entry = next((m for m in models if m.id == self.model), None)
        if entry is None:
            raise EngineError(self._missing_model_message([m.id for m in models]), "not_found")
        reported = _context_size(entry)
        self._info = ModelInfo(
            name=self.model,
            location=self.location,
            context_size=reported or DEFAULT_CONTEXT,
            template_source="server",
            load_seconds=time.perf_counter() - start,
            context_reported=bool(reported),
        )
        return self._info

    def _missing_model_message(self, ids: list[str]) -> str:
        have = ", ".join(one_line(i, 80) for i in ids[:20]) or "no models"
        more = f" and {len(ids) - 20} more" if len(ids) > 20 else ""
        return f"{self.server} has no model {one_line(self.model)!r}; it has: {have}{more}"

    # -- answers -----------------------------------------------------------------------------------

    def stream(
        self,
        messages: Sequence[Message],
        sampling: SamplingOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamEvent]:
        self._stopping.clear()
        start = time.perf_counter()
        chunks = self._open(messages, sampling)
        parts: list[str] = []
        first = last = 0.0
        usage = None
        finish: str | None = None
        try:
            with self._lock:
                self._response = chunks.response
            if self._stopping.is_set():  # stop() came while the request was being sent
                finish = "cancelled"
            else:
                for chunk in chunks:
                    if self._stopping.is_set() or (cancel is not None and cancel.is_set()):
                        finish = "cancelled"
                        break
                    text, thought, reason, chunk_usage = _read_chunk(chunk)
                    usage = chunk_usage or usage
                    if thought:  # llama.cpp's server and others send reasoning apart
                        last = time.perf_counter()
                        first = first or last
                        yield TokenEvent(thought, reasoning=True)
                    if text:
                        last = time.perf_counter()
                        first = first or last
                        parts.append(text)
                        yield TokenEvent(text)
                    finish = reason or finish
        except (openai.APIError, ValueError) as error:  # ValueError: not JSON, or not a chunk
            if not self._stopping.is_set():
                raise self._error(error, "".join(parts)) from None
            finish = "cancelled"  # stop() shut the socket under the read
        finally:
            with self._lock:
                self._response = None
            chunks.close()
        if finish is None:  # the body ended without a final chunk: the server or a proxy cut it
            if not parts:  # llama-cpp-python ends a stream so when the prompt overflows its context
                raise EngineError(
                    f"{self.server} ended the answer before its first token; the prompt "
                    f"({self._count_quietly(messages)} tokens) may not fit the model's context",
                    "server",
                )
            raise EngineError(
                f"{self.server}: the answer was cut off (the stream ended without finishing); "
                f"the {sum(map(len, parts))} characters received are kept",
                "server",
                partial="".join(parts),
            )
        done = time.perf_counter()
        context = self._info.context_size if self._info else 0
        if usage:
            prompt_tokens = usage["prompt_tokens"]
        elif finish == "cancelled":  # no more requests to a server the user just stopped
            prompt_tokens = _estimate(messages)
        else:
            prompt_tokens = self._count_quietly(messages)
        stats = AnswerStats(
            completion_tokens=usage["completion_tokens"] if usage else len(parts),
            prompt_tokens=prompt_tokens,
            time_to_first_token=(first - start) if parts else None,
            generation_seconds=(last - first) if parts else 0.0,
            total_seconds=done - start,
            context_size=context,
            finish_reason=_finish_reason(finish),
        )
        stats.context_used = stats.prompt_tokens + stats.completion_tokens
        yield DoneEvent(stats)

    def _open(self, messages: Sequence[Message], sampling: SamplingOptions) -> openai.Stream:
        """Send the request (retried on 429/5xx by the client); the stream of chunks, as dicts.

        The chunks stay plain JSON: the client's typed model of each one cost several times all the
        rest of reading a token (bench/README.md, "Remote models").
        """
        params: dict = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            params["seed"] = sampling.seed
        response_format = sampling.response_format
        if response_format is not None and response_format.kind != "grammar":
            params["response_format"] = _openai_response_format(response_format)
        # llama.cpp, llama-cpp-python and vLLM take these; OpenAI's own API and a few others refuse
        # any field they do not know, and then we ask again with only the standard ones.
        extras = {
            "stream_options": {"include_usage": True},
            "top_k": sampling.top_k,
            "min_p": sampling.min_p,
            "repeat_penalty": sampling.repeat_penalty,
        }
        attempts = [] if self._strict else [{**params, **extras}]
        if response_format is None or response_format.kind != "grammar":
            attempts.append(params)
        elif attempts:  # llama.cpp's own field; without it the answer would come unconstrained
            attempts[0]["grammar"] = response_format.grammar
        if not attempts:
            raise EngineError(
                f"{self.server} does not take a GBNF grammar (llama.cpp's server does)",
                "unsupported",
            )
        refusal = None
        for body in attempts:
            try:
                chunks = self._post_stream(body)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as error:
                refusal = refusal or error
                continue
            except (openai.APIError, ValueError) as error:
                raise self._error(refusal or error) from None  # the first refusal says more
            if body is params:
                self._strict = True
            return chunks
        raise self._error(refusal) from None

    def _post_stream(self, body: dict) -> openai.Stream:
        return self._client.post(
            "/chat/completions",
            body=body,
            cast_to=object,
            options={"headers": self._headers},
            stream=True,
            stream_cls=openai.Stream[object],
        )

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            response = self._response
        if response is None:
            return
        # Shutting the socket down wakes the reader at once, even mid-read on a silent server; the
        # reading thread then closes the response itself (httpcore is not safe to close from here).
        network = response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def close(self) -> None:
        self.stop()
        self._client.close()

    # -- tokens ------------------------------------------------------------------------------------

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """The server's tokenizer where it offers one (llama-cpp-python's `/extras/tokenize/count`,
        llama.cpp's `/tokenize`) plus a few tokens per message for the chat template; otherwise an
        estimate of 4 characters a token (`count_is_estimate` says which)."""
        if self._tokenize_url is None:
            self._tokenize_url = self._probe_tokenizer()
        if self._tokenize_url:
            try:
                count = self._server_count(self._tokenize_url, _prompt_text(messages))
                self.count_is_estimate = False
                return count + TEMPLATE_TOKENS_PER_MESSAGE * len(messages)
            except (openai.APIError, ValueError, KeyError, TypeError):
                pass
        self.count_is_estimate = True
        return _estimate(messages)

    def _probe_tokenizer(self) -> str:
        root = self.base_url.removesuffix("/v1")
        for url in (f"{root}/extras/tokenize/count", f"{root}/tokenize"):
            try:
                self._server_count(url, "a")
                return url
            except (openai.APIError, ValueError, KeyError, TypeError):
                continue
        return ""

    def _server_count(self, url: str, text: str) -> int:
        client = self._client.with_options(max_retries=0, timeout=10.0)
        options = {"headers": self._headers}
        if url.endswith("/count"):  # llama-cpp-python
            body = {"input": text, "model": self.model}
            reply = client.post(url, body=body, cast_to=object, options=options)
            return int(reply["count"])  # type: ignore[index]
        reply = client.post(url, body={"content": text}, cast_to=object, options=options)  # llama.cpp
        return len(reply["tokens"])  # type: ignore[index]

    def _count_quietly(self, messages: Sequence[Message]) -> int:
        """For stats when the server sends no usage: best effort, never fails an answer."""
        try:
            return self.count_tokens(messages)
        except Exception:  # noqa: BLE001 - stats are not worth a failed answer
            return 0

    # -- errors ------------------------------------------------------------------------------------

    def _error(self, error: Exception, partial: str = "") -> EngineError:
        """An EngineError for a client failure: what happened, at which server, what to do."""
        kind, message = self._describe(error)
        if partial:
            message += f"; the answer was cut there, the {len(partial)} characters received are kept"
        if self._key:  # a careless server may echo the Authorization header back in its error text
            message = message.replace(self._key, "***")
        return EngineError(message, kind, partial=partial)

    def _describe(self, error: Exception) -> tuple:
        server = self.server
        if isinstance(error, ValueError):
            what = "an event that is not JSON" if isinstance(error, json.JSONDecodeError) else error
            return "server", f"{server} sent a malformed stream ({one_line(str(what), 120)})"
        if isinstance(error, openai.APITimeoutError):
            return "network", f"{server} did not answer within {self.timeout:g} s (timed out)"
        if isinstance(error, openai.APIConnectionError):
            return "network", self._connection_message(error)
        if not isinstance(error, openai.APIStatusError):  # an error event inside the stream
            return "server", f"{server} reported an error: {_detail(error)}"
        code = error.status_code
        detail = _detail(error)
        if code in (401, 403):
            verb = "refused the API key" if self._key else "needs an API key"
            what = "forbidden" if code == 403 else "unauthorised"
            return "auth", f"{server} {verb} ({code} {what}: {detail}); {self._key_source}"
        if code == 404:
            try:
                return "not_found", self._missing_model_message(self.list_models())
            except EngineError:
                return "not_found", f"{server}: not found (404): {detail}"
        tries = f" after {self.max_retries + 1} tries" if self.max_retries else ""
        if code == 429:
            return "server", f"{server} is rate-limiting requests (429){tries}: {detail}"
        if code >= 500:
            return "server", f"{server} failed (error {code}){tries}: {detail}"
        if "context" in detail.lower():
            return (
                "context",
                f"{server}: the conversation does not fit the model's context: {detail}",
            )
        return "server", f"{server} refused the request ({code}): {detail}"

    def _connection_message(self, error: Exception) -> str:
        host = urlsplit(self.base_url).netloc
        chain = _chain(error)

        def find(*types: type) -> BaseException | None:
            return next((e for e in chain if isinstance(e, types)), None)

        if tls := find(ssl.SSLError):
            reason = getattr(tls, "reason", None) or one_line(str(tls), 120)
            return f"TLS error talking to {host}: {reason} (is it https, with a trusted certificate?)"
        if find(socket.gaierror):
            return f"cannot resolve {urlsplit(self.base_url).hostname!r} (DNS lookup failed)"
        if find(ConnectionRefusedError):
            return f"connection refused by {host}: is the server running, on that port?"
        if find(TimeoutError, httpx2.TimeoutException):
            return f"{host} did not answer within {self.timeout:g} s (timed out)"
        if find(httpx2.RemoteProtocolError, httpcore2.RemoteProtocolError, ConnectionResetError):
            return f"{host} closed the connection midway"
        cause = chain[-1]
        return f"cannot reach {host}: {one_line(str(cause) or type(cause).__name__, 160)}"


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what it wraps: the OSError/SSLError under the client's and httpx's wrappers."""
    chain = [error]
    while (inner := chain[-1].__cause__ or chain[-1].__context__) is not None and inner not in chain:
        chain.append(inner)
    return chain


def _detail(error: openai.APIError) -> str:
    """The server's own words: an error body's message (OpenAI style) or detail (FastAPI style)."""
    body = error.body
    if isinstance(body, dict):
        text = body.get("message") or body.get("detail") or json.dumps(body)
    elif body:
        text = str(body)
    else:
        text = error.message
    return one_line(str(text), 300)


def _context_size(entry) -> int:
    """The context a server reports in `/v1/models`, when it does (vLLM, llama-server, LM Studio);
    0 when it does not (llama-cpp-python, Ollama)."""
    extra = entry.model_extra or {}
    meta = extra.get("meta") or {}
    for value in (extra.get("max_model_len"), extra.get("context_length"), meta.get("n_ctx_train")):
        if isinstance(value, int) and value > 0:
            return value
    return 0


def _prompt_text(messages: Sequence[Message]) -> str:
    return "\n".join(m.content for m in messages)


def _estimate(messages: Sequence[Message]) -> int:
    """About 4 characters a token, plus the template's markers around each message."""
    return (len(_prompt_text(messages)) + 3) // 4 + TEMPLATE_TOKENS_PER_MESSAGE * len(messages)


def _openai_response_format(response_format: ResponseFormat) -> dict:
    """OpenAI's `response_format` (llama.cpp's server and vLLM take it too)."""
    if response_format.kind == "json_object":
        return {"type": "json_object"}
    schema = {"name": response_format.name, "schema": response_format.schema, "strict": True}
    return {"type": "json_schema", "json_schema": schema}


def _read_chunk(chunk: object) -> tuple[str, str, str, dict | None]:
    """(text, reasoning text, finish reason, usage) of one streamed chunk; ValueError when it is not
    a chunk."""
    try:
        usage = chunk.get("usage")  # type: ignore[union-attr]
        choices = chunk.get("choices")  # type: ignore[union-attr]
        choice = choices[0] if choices else {}
        delta = choice.get("delta") or {}
        text = delta.get("content") or ""
        thought = delta.get("reasoning_content") or ""
        reason = choice.get("finish_reason") or ""
        if usage is not None:
            usage = {k: int(usage[k]) for k in ("prompt_tokens", "completion_tokens")}
    except (AttributeError, TypeError, KeyError, IndexError):
        raise ValueError("an event that is not a chat completion chunk") from None
    if not all(isinstance(value, str) for value in (text, thought, reason)):
        raise ValueError("an event that is not a chat completion chunk")
    return text, thought, reason, usage


def _finish_reason(reason: str) -> FinishReason:
    if reason in ("length", "cancelled"):
        return reason  # type: ignore[return-value]
    return "stop"  # stop, tool_calls, content_filter...
