"""GGUF files on this machine: the HF cache and the user's folders; last used; delete frees disk."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import pytest

from tests.fakehub import fake_hub  # noqa: F401
from tui.core.config.context import AppContext
from tui.core.config.paths import app_paths
from tui.core.models import hub, library
from tui.core.models.downloads import FileRequest

REPO = "TheBloke/Tiny-GGUF"


@pytest.fixture
def downloaded(fake_hub, tiny_gguf):
    """Download files through the manager into the cache; returns their snapshot paths by name."""

    def fetch(files: dict[str, str]):
        paths = {name: tiny_gguf([piece], name=f"{piece}.gguf") for name, piece in files.items()}
        fake_hub.add_repo(REPO, paths)
        m = AppContext.load().download_manager()
        out = {}
        for name in files:
            f = fake_hub.repos[REPO].files[name]
            out[name] = m.wait(m.submit(FileRequest(REPO, name, f.size, f.sha256))).path
        return out

    return fetch


def test_scan_lists_cache_and_folders_with_splits_grouped(downloaded, tiny_gguf, tmp_path):
    paths = downloaded({"t.Q4_K_M.gguf": "a", "big.Q8_0-00001-of-00002.gguf": "b",
                        "big.Q8_0-00002-of-00002.gguf": "c"})  # fmt: skip
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "own.Q5_K_M.gguf").write_bytes(b"GGUF" + bytes(60))
    (folder / "notes.txt").write_text("x")
    lib = library.scan(app_paths(), [str(folder)])
    rows = sorted((m.source, m.repo_id, m.name, m.quant, len(m.parts)) for m in lib.models)
    assert rows == [
        ("cache", REPO, "big.Q8_0.gguf", "Q8_0", 2),
        ("cache", REPO, "t.Q4_K_M.gguf", "Q4_K_M", 1),
        ("folder", None, "own.Q5_K_M.gguf", "Q5_K_M", 1),
    ]
    big = next(m for m in lib.models if m.name == "big.Q8_0.gguf")
    assert big.path == paths["big.Q8_0-00001-of-00002.gguf"]
    assert lib.total_size == sum(p.stat().st_size for p in paths.values()) + 64


def test_last_used_orders_the_list(downloaded):
    paths = downloaded({"a.Q4_0.gguf": "a", "b.Q4_0.gguf": "b"})
    library.mark_used(app_paths(), paths["b.Q4_0.gguf"], when=1000.0)
    library.mark_used(app_paths(), paths["a.Q4_0.gguf"], when=2000.0)
    models = library.scan(app_paths()).models
    assert [(m.name, m.last_used) for m in models] == [
        ("a.Q4_0.gguf", 2000.0),
        ("b.Q4_0.gguf", 1000.0),
    ]


def test_delete_really_frees_the_blob(downloaded):
    paths = downloaded({"a.Q4_0.gguf": "a", "b.Q4_0.gguf": "b"})
    lib = library.scan(app_paths())
    a = next(m for m in lib.models if m.name == "a.Q4_0.gguf")
    blob = paths["a.Q4_0.gguf"].resolve()
    size = blob.stat().st_size
    assert library.delete(app_paths(), a) == size
    assert not blob.exists() and not paths["a.Q4_0.gguf"].exists()
    assert [m.name for m in library.scan(app_paths()).models] == ["b.Q4_0.gguf"]
    (b,) = library.scan(app_paths()).models
    library.delete(app_paths(), b)
    assert library.scan(app_paths()).models == ()
    assert not list(hub.cache_dir().glob("models--*"))  # nothing left of the repository


def test_delete_from_a_user_folder(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    f = folder / "own.Q5_K_M.gguf"
    f.write_bytes(b"GGUF" + bytes(60))
    (model,) = library.scan(app_paths(), [str(folder)]).models
    assert library.delete(app_paths(), model) == 64 and not f.exists()
