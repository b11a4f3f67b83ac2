"""huggingface-hub internals the download manager needs, in one place; checked against 2.4.0.

It has no public API for writing the cache layout exactly as `hf_hub_download` writes it:
`_create_symlink` and `_cache_commit_hash_for_specific_revision`. tests/test_dependency_adapters.py
fails on another version or when one is gone: check each use, then update CHECKED_VERSION.
"""

from __future__ import annotations

CHECKED_VERSION = "2.4.0"


def create_symlink(src: str, dst: str) -> None:
    from huggingface_hub.file_download import _create_symlink

    _create_symlink(src, dst, new_blob=True)


def record_revision(storage: str, revision: str, commit: str) -> None:
    """`refs/<revision>` -> commit, as huggingface-hub writes it."""
    from huggingface_hub.file_download import _cache_commit_hash_for_specific_revision

    _cache_commit_hash_for_specific_revision(storage, revision, commit)
