"""huggingface-hub internals the download manager needs, in one place; checked against 2.4.0.

It has no public API for these: `file_download.http_get` without its retries (`_nb_retries=0`),
into our own resumable part file; `constants.DOWNLOAD_CHUNK_SIZE` (None: no re-chunking, so pause,
progress and a dropped connection act per network piece) and `HF_HUB_DOWNLOAD_TIMEOUT` (our stall
detector), changed here only; its "Trying to resume download" log line, the one sign that http_get
resumed by itself; `_create_symlink` and `_cache_commit_hash_for_specific_revision`, the cache
layout exactly as `hf_hub_download` writes it. tests/test_dependency_adapters.py fails on another
version or when one is gone: check each use, then update CHECKED_VERSION.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

CHECKED_VERSION = "2.4.0"
RESUME_WARNING = "Trying to resume download"  # in http_get's log line when it resumes by itself
_LOGGER = "huggingface_hub.file_download"


def tune(stall_seconds: float) -> None:
    """Once per process is enough; an `HF_HUB_DOWNLOAD_TIMEOUT` the user set wins."""
    from huggingface_hub import constants

    constants.DOWNLOAD_CHUNK_SIZE = None
    if "HF_HUB_DOWNLOAD_TIMEOUT" not in os.environ:
        constants.HF_HUB_DOWNLOAD_TIMEOUT = stall_seconds
    log = logging.getLogger(_LOGGER)
    if _RESUMES not in log.handlers:
        log.addHandler(_RESUMES)
        log.propagate = False  # its warnings become a job's visible state, not terminal noise


def http_get(
    url: str,
    file: BinaryIO,
    *,
    on_resume: Callable[[str], None],
    **options: Any,
) -> None:
    """`file_download.http_get` without its own retries (`options`: its public parameters).
    `on_resume(reason)` is called on this thread when it resumes a dropped transfer by itself."""
    from huggingface_hub import file_download

    _RESUMES.current.callback = on_resume
    try:
        file_download.http_get(url, file, _nb_retries=0, **options)
    finally:
        _RESUMES.current.callback = None


def create_symlink(src: str, dst: str) -> None:
    from huggingface_hub.file_download import _create_symlink

    _create_symlink(src, dst, new_blob=True)


def record_revision(storage: str, revision: str, commit: str) -> None:
    """`refs/<revision>` -> commit, as huggingface-hub writes it."""
    from huggingface_hub.file_download import _cache_commit_hash_for_specific_revision

    _cache_commit_hash_for_specific_revision(storage, revision, commit)


class _ResumeLog(logging.Handler):
    current = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        callback = getattr(self.current, "callback", None)
        if callback is not None and RESUME_WARNING in record.getMessage():
            args = record.args if isinstance(record.args, tuple) else ()
            callback(str(args[1]) if len(args) > 1 else "")  # ("... from %s: %s", url, error)


_RESUMES = _ResumeLog()
