"""Will it load here: llama.cpp itself reads a remote file's header (a sparse copy) before any
weights are fetched; `llmtui download` refuses what it cannot load unless `--force`."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

from pathlib import Path

from tests.fakehub import fake_hub, sha256_of  # noqa: F401
from tests.test_cli_download import run

REPO = "someone/tiny-GGUF"
KNOWN = "tiny.Q8_0.gguf"
ALIEN = "alien.Q8_0.gguf"


def publish(fake_hub, tiny_gguf):
    # Wide enough that the weights are many times the first Range read (256 KiB).
    known = tiny_gguf(["a", "b"], name=KNOWN, layers=2, width=1024)
    alien = tiny_gguf(["a", "b"], name=ALIEN, layers=2, width=1024, architecture="xyz-alien")
    fake_hub.add_repo(REPO, {KNOWN: known, ALIEN: alien})
    return known, alien


def test_a_known_architecture_loads_and_an_unknown_one_is_refused_from_its_header(
    fake_hub, tiny_gguf, tmp_path
):
    from tui.core.models import hub, loadable

    known, alien = publish(fake_hub, tiny_gguf)
    files = hub.list_files(REPO)
    cache = loadable.VerdictCache(tmp_path)

    ok = loadable.check(files.find(filename=KNOWN), cache=cache)
    assert ok.loadable and ok.architecture == "llama" and ok.gguf_version == 3

    refused = loadable.check(files.find(filename=ALIEN), cache=cache)
    assert not refused.loadable
    assert refused.architecture == "xyz-alien"
    assert "unknown model architecture: 'xyz-alien'" in refused.reason
    assert refused.llama_cpp_version == loadable.llama_cpp_version()
    # Only the header travelled: what the check counted is what the Hub sent, a small part.
    assert fake_hub.served[ALIEN] == refused.fetched
    assert refused.fetched < alien.stat().st_size / 4
    line = refused.refusal(ALIEN)
    assert "'xyz-alien'" in line and loadable.llama_cpp_version() in line

    # Asked again: the cached verdict, nothing fetched.
    before = fake_hub.served[ALIEN]
    again = loadable.check(files.find(filename=ALIEN), cache=cache)
    assert (again.loadable, again.reason, again.fetched) == (False, refused.reason, 0)
    assert fake_hub.served[ALIEN] == before


def test_the_cache_is_per_llama_cpp_version(fake_hub, tiny_gguf, tmp_path):
    from tui.core.models import hub, loadable

    publish(fake_hub, tiny_gguf)
    file = hub.list_files(REPO).find(filename=ALIEN)
    cache = loadable.VerdictCache(tmp_path)
    loadable.check(file, cache=cache)
    assert cache.get(cache.key(file, None, loadable.llama_cpp_version())) is not None
    assert cache.get(cache.key(file, None, "0.0.0-other")) is None


def test_download_refuses_an_unloadable_file_and_force_fetches_it(fake_hub, tiny_gguf):
    _, alien = publish(fake_hub, tiny_gguf)
    code, out, err = run("download", REPO, "--file", ALIEN)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "xyz-alien" in lines[0] and "--force" in lines[0]
    from tui.core.models.loadable import llama_cpp_version

    assert f"llama.cpp {llama_cpp_version()}" in lines[0]
    assert out == ""
    assert fake_hub.served[ALIEN] < alien.stat().st_size / 4  # the header, no weights

    code, out, err = run("download", REPO, "--file", ALIEN, "--force")
    assert code == 0, err
    assert sha256_of(Path(out.strip())) == sha256_of(alien)


def test_download_of_a_loadable_file_goes_ahead(fake_hub, tiny_gguf):
    known, _ = publish(fake_hub, tiny_gguf)
    code, out, err = run("download", REPO, "--file", KNOWN)
    assert code == 0, err
    assert sha256_of(Path(out.strip())) == sha256_of(known)


async def test_the_quant_picker_labels_files_llama_cpp_cannot_load(fake_hub, tiny_gguf):
    from textual.widgets import DataTable, Static

    from tests.test_ui_download import cells, wait_until
    from tui.core.catalogue import load_catalogue
    from tui.core.models.loadable import llama_cpp_version
    from tui.ui.app import LlmTui
    from tui.ui.download.screen import QuantPicker

    hostile = "[bold]xyz[/]\x1b[2J"  # an architecture name is the file's text: shown literally
    alien = tiny_gguf(["a"], name="x.gguf", architecture=hostile)
    fake_hub.add_repo("TheBloke/alien-GGUF", {"alien.Q4_K_M.gguf": alien, "alien.Q8_0.gguf": alien})
    app = LlmTui(load_catalogue())
    async with app.run_test(size=(140, 45)) as pilot:
        app.open_job("models", "TheBloke/alien-GGUF")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, QuantPicker)
        files = picker.query_one("#files", DataTable)
        await wait_until(pilot, lambda: files.row_count == 2 and picker.unloadable is not None)
        rows = cells(files)
        assert [r[4] for r in rows] == ["won't load", "won't load"]
        assert all(r[0] == "" for r in rows)  # nothing recommended
        status = str(picker.query_one("#status", Static).render())
        assert "'[bold]xyz[/]" in status and llama_cpp_version() in status
        assert "\x1b" not in status


def test_a_split_file_is_checked_from_every_part_header(fake_hub, tiny_gguf):
    from tui.core.models import hub, loadable

    first = tiny_gguf(["a", "b"], name="split.Q8_0.gguf", layers=2, width=512, split_max_tensors=4)
    parts = sorted(first.parent.glob("split.Q8_0-*-of-*.gguf"))
    assert len(parts) > 1
    fake_hub.add_repo(REPO, {p.name: p for p in parts})
    (file,) = hub.list_files(REPO).files
    verdict = loadable.check(file)
    assert verdict.loadable, verdict.reason
    assert sum(fake_hub.served.values()) == verdict.fetched


def test_a_gguf_version_llama_cpp_does_not_read_is_refused_in_its_words(fake_hub, tiny_gguf):
    from tui.core.models import hub, loadable

    path = tiny_gguf(["a"], name="future.Q8_0.gguf", layers=2, width=1024)
    data = bytearray(path.read_bytes())
    data[4:8] = (4).to_bytes(4, "little")  # GGUF version 4
    path.write_bytes(data)
    fake_hub.add_repo(REPO, {path.name: path})
    verdict = loadable.check(hub.list_files(REPO).files[0])
    assert not verdict.loadable and verdict.gguf_version == 4 and verdict.architecture is None
    assert "version" in verdict.reason.lower()
    assert verdict.fetched < path.stat().st_size / 4
