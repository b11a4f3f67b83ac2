"""Finding GGUF repositories and listing quant files with HfApi against the loopback Hub."""
# ruff: noqa: F811 - pytest fixtures imported from tests.fakehub

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.fakehub import fake_hub, sha256_of  # noqa: F401
from tui.core.models import gguf_header, hub


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("llama-2-7b-chat.Q4_K_M.gguf", "Q4_K_M"),
        ("phi-2.Q8_0.gguf", "Q8_0"),
        ("Meta-Llama-3-8B-Instruct-IQ3_XXS.gguf", "IQ3_XXS"),
        ("model-q5_k_s.gguf", "Q5_K_S"),
        ("ggml-model-f16.gguf", "F16"),
        ("mixtral-8x7b.Q3_K_L-00001-of-00002.gguf", "Q3_K_L"),
        ("qwen2-7b-instruct-bf16.gguf", "BF16"),
        ("tinyllama.IQ4_NL.gguf", "IQ4_NL"),
        ("Q4_K_M-but-no-dot", "Q4_K_M"),
        ("plain.gguf", None),
        ("q4llama.gguf", None),
    ],
)
def test_parse_quant(name, quant):
    assert hub.parse_quant(name) == quant


def test_split_files_are_one_entry_and_unsafe_names_are_refused():
    rows = [
        ("big.Q8_0-00002-of-00002.gguf", 5, "b" * 64),
        ("big.Q8_0-00001-of-00002.gguf", 7, "a" * 64),
        ("half.Q6_K-00001-of-00003.gguf", 1, "c" * 64),
        ("small.Q2_K.gguf", 3, "d" * 64),
        ("README.md", 1, None),
        ("../../evil.Q4_0.gguf", 1, "e" * 64),
        ("/abs.Q4_0.gguf", 1, "e" * 64),
        ("a\\b.Q4_0.gguf", 1, "e" * 64),
        ("sub/../../x.Q4_0.gguf", 1, "e" * 64),
    ]
    files, skipped = hub.group_files("o/r", rows)
    assert [(f.name, f.quant, f.size, f.complete) for f in files] == [
        ("small.Q2_K.gguf", "Q2_K", 3, True),
        ("half.Q6_K.gguf", "Q6_K", 1, False),
        ("big.Q8_0.gguf", "Q8_0", 12, True),
    ]
    assert files[2].first == "big.Q8_0-00001-of-00002.gguf"
    assert len(skipped) == 4


def test_list_files_reads_sizes_and_lfs_sha(fake_hub, smollm2, tiny_gguf):
    tiny = tiny_gguf(["x"])
    files = {"x.Q4_1.gguf": smollm2, "x.Q2_K.gguf": tiny, "notes.txt": tiny}
    summary = {"total": 134_515_008, "architecture": "llama", "context_length": 8192}
    fake_hub.add_repo("TheBloke/X-GGUF", files, gguf=summary)
    files = hub.list_files("TheBloke/X-GGUF")
    assert [(f.name, f.size, f.parts[0].sha256) for f in files.files] == [
        ("x.Q2_K.gguf", tiny.stat().st_size, sha256_of(tiny)),
        ("x.Q4_1.gguf", smollm2.stat().st_size, sha256_of(smollm2)),
    ]
    assert files.params == 134_515_008
    assert files.files[1].bits_per_weight(files.params) == pytest.approx(5.85, abs=0.01)
    assert files.find(quant="q4_1").name == "x.Q4_1.gguf"
    with pytest.raises(hub.HubError, match="Quants available: Q2_K, Q4_1"):
        files.find(quant="Q5_K_M")


def test_catalogue_mapping_comes_first(fake_hub):
    catalogue = SimpleNamespace(
        model=lambda i: SimpleNamespace(gguf=SimpleNamespace(repo="TheBloke/phi-2-GGUF"))
    )
    found = hub.find_gguf_repos("microsoft/phi-2", catalogue)
    assert found.thebloke.repo_id == "TheBloke/phi-2-GGUF" and found.thebloke.source == "catalogue"
    assert fake_hub.requests == []  # no search needed


def test_search_prefers_thebloke_exact_name(fake_hub, tiny_gguf):
    t = tiny_gguf(["x"])
    fake_hub.add_repo("TheBloke/Foo-7B-Extra-GGUF", {"a.Q4_0.gguf": t}, downloads=900)
    fake_hub.add_repo("TheBloke/Foo-7B-GGUF", {"a.Q4_0.gguf": t}, downloads=10)
    fake_hub.add_repo("other/Foo-7B-GGUF", {"a.Q4_0.gguf": t}, downloads=5000)
    found = hub.find_gguf_repos("acme/Foo-7B")
    assert found.thebloke.repo_id == "TheBloke/Foo-7B-GGUF"
    assert [c.repo_id for c in found.more_thebloke] == ["TheBloke/Foo-7B-Extra-GGUF"]


def test_no_thebloke_gguf_gives_reason_and_others(fake_hub, tiny_gguf):
    fake_hub.add_repo("bartowski/Qwen-7B-GGUF", {"a.Q4_0.gguf": tiny_gguf(["x"])})
    ref = SimpleNamespace(
        repo=None, reason="TheBloke made only GPTQ.", alternatives=("Qwen/Qwen-7B-GGUF",)
    )
    catalogue = SimpleNamespace(model=lambda i: SimpleNamespace(gguf=ref))
    found = hub.find_gguf_repos("Qwen/Qwen-7B", catalogue)
    assert found.thebloke is None
    assert found.note == "TheBloke published no GGUF for Qwen/Qwen-7B. TheBloke made only GPTQ."
    assert [c.repo_id for c in found.others] == ["Qwen/Qwen-7B-GGUF", "bartowski/Qwen-7B-GGUF"]


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [(500, "server", "500"), (503, "server", "try again"), (429, "rate_limited", "429")],
)
def test_api_errors_are_explained(fake_hub, status, kind, words):
    fake_hub.add_repo("TheBloke/X-GGUF", {})
    fake_hub.fail_api(status)
    with pytest.raises(hub.HubError) as error:
        hub.list_files("TheBloke/X-GGUF")
    assert error.value.kind == kind and words in str(error.value) and error.value.retryable


def test_unknown_repo_and_offline(fake_hub, monkeypatch):
    with pytest.raises(hub.HubError, match="was not found") as error:
        hub.list_files("nobody/Nothing-GGUF")
    assert error.value.kind == "not_found"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(fake_hub.requests)
    with pytest.raises(hub.HubError, match="HF_HUB_OFFLINE"):
        hub.find_gguf_repos("microsoft/phi-2")
    assert len(fake_hub.requests) == before


def test_remote_header_matches_local_and_reads_little(fake_hub, smollm2):
    fake_hub.add_repo("TheBloke/X-GGUF", {"x.Q4_1.gguf": smollm2})
    remote = gguf_header.read_remote("TheBloke/X-GGUF", "x.Q4_1.gguf")
    assert remote == gguf_header.read_local(smollm2)
    assert (remote.architecture, remote.n_layer, remote.n_embd, remote.n_head) == (
        "llama",
        30,
        576,
        9,
    )
    assert (
        remote.n_head_kv == (3,) * 30
        and remote.context_length == 8192
        and remote.file_type == "Q4_1"
    )
    assert fake_hub.served["x.Q4_1.gguf"] <= 1 << 20
    assert all(r and r.startswith("bytes=") for r in fake_hub.gets("x.Q4_1.gguf"))


def test_header_of_a_gated_file_explains_access(fake_hub, smollm2):
    fake_hub.add_repo("TheBloke/X-GGUF", {"x.Q4_1.gguf": smollm2}, gated=True)
    with pytest.raises(hub.HubError, match="hf auth login") as error:
        gguf_header.read_remote("TheBloke/X-GGUF", "x.Q4_1.gguf")
    assert error.value.kind == "gated"


def test_not_a_gguf(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + bytes(100))
    with pytest.raises(gguf_header.GgufHeaderError, match="not a GGUF"):
        gguf_header.read_local(bad)
    bad.write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(gguf_header.GgufHeaderError, match="ends inside its header"):
        gguf_header.read_local(bad)
