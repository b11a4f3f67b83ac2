"""Searching the Hub for GGUF repositories (tui.core.models.search, `llmtui search`), against the
loopback Hub through huggingface-hub's real `HfApi.list_models`."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

import json

import pytest

from tests.fakehub import fake_hub  # noqa: F401
from tests.faultserver import free_port
from tui.cli import main
from tui.core.models.hub import HubError
from tui.core.models.search import HubOffline, HubSearch


@pytest.fixture
def gguf(tmp_path):
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    return path


def publish(hub, gguf, repo_id, **kwargs):
    name = repo_id.split("/")[1].removesuffix("-GGUF").lower()
    files = {f"{name}.Q4_K_M.gguf": gguf, f"{name}.Q2_K.gguf": gguf,
             f"{name}-Q8_0-00001-of-00002.gguf": gguf, f"{name}-Q8_0-00002-of-00002.gguf": gguf,
             "README.md": gguf}  # fmt: skip
    return hub.add_repo(repo_id, files, **kwargs)


def test_only_gguf_repositories_of_any_publisher_most_downloaded_first(fake_hub, gguf):
    publish(fake_hub, gguf, "bartowski/Qwen2.5-7B-Instruct-GGUF", downloads=500, likes=3,
            last_modified="2024-09-01T00:00:00.000Z",
            card_data={"license": "apache-2.0", "base_model": "Qwen/Qwen2.5-7B-Instruct"})
    publish(fake_hub, gguf, "unsloth/Qwen2.5-7B-GGUF", downloads=900, likes=1,
            last_modified="2024-10-01T00:00:00.000Z", gated=True)
    publish(fake_hub, gguf, "ggml-org/Qwen3-1.7B-GGUF", downloads=100, likes=9,
            last_modified="2025-05-01T00:00:00.000Z")
    fake_hub.add_repo("Qwen/Qwen2.5-7B-Instruct", {"model.gguf": gguf}, tags=("safetensors",),
                      downloads=10_000)  # fmt: skip
    publish(fake_hub, gguf, "bartowski/Llama-3.2-1B-GGUF", downloads=10_000)

    found = HubSearch("qwen").more()
    assert [r.repo_id for r in found] == [
        "unsloth/Qwen2.5-7B-GGUF", "bartowski/Qwen2.5-7B-Instruct-GGUF", "ggml-org/Qwen3-1.7B-GGUF",
    ]  # fmt: skip
    # What huggingface-hub asked: the gguf filter, the order, only the properties shown.
    asked = fake_hub.searches[-1]
    assert asked["filter"] == ["gguf"] and asked["search"] == ["qwen"]
    assert asked["sort"] == ["downloads"] and "siblings" in asked["expand"]
    top, instruct = found[0], found[1]
    assert (top.author, top.downloads, top.likes, top.gated) == ("unsloth", 900, 1, True)
    assert top.updated is not None and top.updated.year == 2024 and top.updated.month == 10
    assert top.quants == ("Q2_K", "Q4_K_M", "Q8_0")  # from the file names, the split counted once
    assert top.files == 3
    assert (instruct.licence, instruct.base_models) == ("apache-2.0", ("Qwen/Qwen2.5-7B-Instruct",))
    assert (top.licence, top.base_models) == (None, ())


@pytest.mark.parametrize(
    "sort, expected",
    [("likes", ["c/q-GGUF", "a/q-GGUF", "b/q-GGUF"]), ("updated", ["b/q-GGUF", "c/q-GGUF", "a/q-GGUF"])],
)
def test_other_orders(fake_hub, gguf, sort, expected):
    publish(fake_hub, gguf, "a/q-GGUF", likes=5, last_modified="2023-01-01T00:00:00.000Z")
    publish(fake_hub, gguf, "b/q-GGUF", likes=1, last_modified="2025-01-01T00:00:00.000Z")
    publish(fake_hub, gguf, "c/q-GGUF", likes=8, last_modified="2024-01-01T00:00:00.000Z")
    assert [r.repo_id for r in HubSearch("q", sort).more()] == expected
    assert fake_hub.searches[-1]["sort"] == [{"likes": "likes", "updated": "lastModified"}[sort]]


def test_pages_come_on_demand_through_the_hubs_next_links(fake_hub, gguf):
    fake_hub.page_size = 2  # the Hub's pages: 2 results, then a Link rel="next"
    for i in range(5):
        publish(fake_hub, gguf, f"pub{i}/Model-{i}-GGUF", downloads=100 - i)
    search = HubSearch("model", page_size=2)
    assert fake_hub.searches == []  # nothing asked before someone wants results
    assert [r.repo_id for r in search.more()] == ["pub0/Model-0-GGUF", "pub1/Model-1-GGUF"]
    assert len(fake_hub.searches) == 1 and not search.exhausted
    assert [r.repo_id for r in search.more()] == ["pub2/Model-2-GGUF", "pub3/Model-3-GGUF"]
    assert len(fake_hub.searches) == 2 and fake_hub.searches[1]["cursor"] == ["2"]
    assert [r.repo_id for r in search.more()] == ["pub4/Model-4-GGUF"]
    assert search.exhausted and search.more() == []
    assert len(search.results) == 5 and len(fake_hub.searches) == 3


def test_offline_mode_says_so_without_asking(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOffline, match="^The Hub is offline: .*HF_HUB_OFFLINE"):
        HubSearch("qwen").more()
    assert fake_hub.searches == []


def test_a_hub_that_refuses_connections_is_offline(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(HubOffline, match="^The Hub is offline: cannot connect to .*refused"):
        HubSearch("qwen").more()


@pytest.mark.parametrize(
    "text, sort, message",
    [("qwen", "newest", "No search order"), ("x" * 201, "downloads", "at most 200"),
     ("a\x1bb", "downloads", "control characters")],
)  # fmt: skip
def test_bad_searches_are_refused(text, sort, message):
    with pytest.raises(HubError, match=message) as refused:
        HubSearch(text, sort)
    assert refused.value.kind == "bad_input"


# -- the command line ------------------------------------------------------------------------------


def test_cli_json_follows_pages_up_to_the_limit(fake_hub, gguf, capsys):
    fake_hub.page_size = 2
    for i in range(4):
        publish(fake_hub, gguf, f"pub{i}/Phi-{i}-GGUF", downloads=10 - i,
                card_data={"license": "mit"})  # fmt: skip
    assert main(["search", "phi", "--limit", "3", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [r["repo_id"] for r in found] == ["pub0/Phi-0-GGUF", "pub1/Phi-1-GGUF", "pub2/Phi-2-GGUF"]
    assert found[0]["quants"] == ["Q2_K", "Q4_K_M", "Q8_0"] and found[0]["licence"] == "mit"
    assert found[0]["downloads"] == 10 and found[0]["url"].endswith("/pub0/Phi-0-GGUF")


def test_cli_lists_results_as_text(fake_hub, gguf, capsys):
    publish(fake_hub, gguf, "evil/[bold]x[/]-GGUF", downloads=1234)  # shown as it is
    assert main(["search", "x", "--sort", "likes"]) == 0
    out = capsys.readouterr().out
    assert "evil/[bold]x[/]-GGUF" in out and "1,234 downloads" in out and "Q4_K_M" in out


@pytest.mark.parametrize(
    "argv, message",
    [(["search", "  "], "give some text"), (["search", "qwen", "--limit", "0"], "--limit")],
)
def test_cli_bad_input_is_one_line_and_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_offline_is_one_line_and_status_2(monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    assert main(["search", "qwen", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("llmtui: error: The Hub is offline: cannot connect")
    assert len(captured.err.strip().splitlines()) == 1
