"""Endpoints: OpenAI-compatible servers saved by name in the settings file.

An endpoint is a name, a base URL and where its API key comes from: an environment variable it
names, or the OS keyring (service "llmtui", user = the endpoint's name). The key itself is never
written to the settings file. Adding, editing and removing change the app context's settings and
write them; testing asks the server for its models. `remote_models()` lists every endpoint's
models, for My models, chat and compare.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from tui.core.config.settings import Endpoint, Settings
from tui.core.errors import LlmtuiError

if TYPE_CHECKING:
    from tui.core.config.context import AppContext

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KEY_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LIST_TIMEOUT = 10.0  # seconds a server gets to list its models when many are asked at once


class EndpointError(LlmtuiError):
    """Bad endpoint input (name taken or unknown, URL not a server URL, ...): a one-line message."""


def validated(endpoint: Endpoint) -> Endpoint:
    """The endpoint, its URL normalised (`http://h:p` -> `http://h:p/v1`); EndpointError if bad."""
    from tui.core.engine.base import EngineError
    from tui.core.engine.remote import normalise_url

    if not NAME.fullmatch(endpoint.name):
        raise EndpointError(
            f"endpoint name {endpoint.name!r}: use letters, digits, '.', '_' or '-' (up to 64)"
        )
    if endpoint.api_key_env and not KEY_ENV.fullmatch(endpoint.api_key_env):
        raise EndpointError(f"{endpoint.api_key_env!r} is not an environment variable name")
    try:
        url = normalise_url(endpoint.url)
    except EngineError as error:
        raise EndpointError(error.message) from None
    return replace(endpoint, url=url)


def add_endpoint(context: AppContext, endpoint: Endpoint) -> Settings:
    settings = context.checked_settings()
    endpoint = validated(endpoint)
    if settings.endpoint(endpoint.name) is not None:
        raise EndpointError(f"an endpoint named {endpoint.name!r} already exists")
    return context.save_settings(replace(settings, endpoints=(*settings.endpoints, endpoint)))


def edit_endpoint(context: AppContext, name: str, endpoint: Endpoint) -> Settings:
    """Replace endpoint `name` (it may be renamed), keeping its place in the list."""
    settings = context.checked_settings()
    old = _existing(settings, name)
    endpoint = validated(endpoint)
    if endpoint.name != name and settings.endpoint(endpoint.name) is not None:
        raise EndpointError(f"an endpoint named {endpoint.name!r} already exists")
    endpoints = tuple(endpoint if e.name == name else e for e in settings.endpoints)
    settings = context.save_settings(replace(settings, endpoints=endpoints))
    if old.use_keyring and endpoint.use_keyring and endpoint.name != name:
        _move_key(name, endpoint.name)  # keyring entries are named after the endpoint
    return settings


def remove_endpoint(context: AppContext, name: str) -> Settings:
    """Remove endpoint `name` from the settings, and its key from the keyring if it has one."""
    settings = context.checked_settings()
    old = _existing(settings, name)
    endpoints = tuple(e for e in settings.endpoints if e.name != name)
    settings = context.save_settings(replace(settings, endpoints=endpoints))
    if old.use_keyring:
        _move_key(name, None)
    return settings


def _existing(settings: Settings, name: str) -> Endpoint:
    endpoint = settings.endpoint(name)
    if endpoint is None:
        known = ", ".join(e.name for e in settings.endpoints) or "none saved"
        raise EndpointError(f"no endpoint named {name!r} (endpoints: {known})")
    return endpoint


def store_key(name: str, key: str) -> None:
    """Keep an endpoint's API key in the OS keyring; EndpointError when there is no usable one."""
    from tui.core.engine.remote import KEYRING_SERVICE

    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise EndpointError(
            "the keyring package is not installed (pip install keyring); "
            "name an environment variable for the key instead"
        ) from None
    try:
        keyring.set_password(KEYRING_SERVICE, name, key)
    except keyring.errors.KeyringError as error:
        raise EndpointError(f"the OS keyring refused the key: {type(error).__name__}") from None


def _move_key(name: str, new_name: str | None) -> None:
    """Best effort: move (with no new name: delete) a keyring entry; no keyring, nothing to do."""
    from tui.core.engine.remote import KEYRING_SERVICE

    try:
        import keyring

        key = keyring.get_password(KEYRING_SERVICE, name)
        if key is None:
            return
        if new_name is not None:
            keyring.set_password(KEYRING_SERVICE, new_name, key)
        keyring.delete_password(KEYRING_SERVICE, name)
    except Exception:  # noqa: BLE001 - no keyring or a locked one: the settings change still stands
        pass


def test_endpoint(endpoint: Endpoint, api_key: str | None = None) -> list[str]:
    """The models the endpoint's server offers; EngineError (network, auth, ...) when it cannot say.

    `api_key` tests a key before it is stored; by default the endpoint's own key is read. No
    retries: a test should answer at once, whatever the answer.
    """
    from tui.core.engine.remote import endpoint_api_key, key_source, list_models

    endpoint = validated(endpoint)
    key = api_key if api_key is not None else endpoint_api_key(endpoint)
    source = "the key being tested" if api_key is not None else key_source(endpoint)
    return list_models(endpoint.url, key, endpoint_name=endpoint.name, key_source=source, max_retries=0)


def remote_spec(endpoint: Endpoint, model: str) -> str:
    """How chat and compare name this model (`ENDPOINT#MODEL`)."""
    return f"{endpoint.name}#{model}"


def remote_models(
    settings: Settings,
    on_error: Callable[[Endpoint, Exception], None] | None = None,
) -> list[tuple[Endpoint, str]]:
    """Every saved endpoint's models, as (endpoint, model id), in the endpoints' order.

    Servers are asked at once, each with a short timeout and no retries; one that fails is left out
    and reported to `on_error` (so My models still opens when a server is down). Blocking: call it
    from a worker.
    """
    from tui.core.engine.base import EngineError
    from tui.core.engine.remote import endpoint_options, list_models

    def ask(endpoint: Endpoint) -> list[str] | Exception:
        try:
            options = endpoint_options(endpoint)
            return list_models(endpoint.url, **options, timeout=LIST_TIMEOUT, max_retries=0)
        except EngineError as error:
            return error

    if not settings.endpoints:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(settings.endpoints))) as pool:
        answers = list(pool.map(ask, settings.endpoints))
    found: list[tuple[Endpoint, str]] = []
    for endpoint, answer in zip(settings.endpoints, answers, strict=True):
        if isinstance(answer, Exception):
            if on_error is not None:
                on_error(endpoint, answer)
            continue
        found.extend((endpoint, model) for model in answer)
    return found
