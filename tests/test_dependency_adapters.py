"""The adapters over dependencies' internals (`hf_compat`, `textual_compat`) name the version they
were checked against. These tests fail loudly on another version, or when an internal they use is
gone, so an upgrade is checked on purpose rather than found broken."""

from __future__ import annotations

import inspect

from textual.app import App
from textual.binding import Binding

from tui.core.models import hf_compat
from tui.ui.common import textual_compat


def test_huggingface_hub_is_the_version_hf_compat_was_checked_against():
    import huggingface_hub

    assert huggingface_hub.__version__ == hf_compat.CHECKED_VERSION, (
        f"huggingface-hub {huggingface_hub.__version__}: check every use in "
        "tui/core/models/hf_compat.py against it, then update CHECKED_VERSION"
    )


def test_the_huggingface_hub_internals_hf_compat_uses_are_there():
    from huggingface_hub import file_download

    assert "new_blob" in inspect.signature(file_download._create_symlink).parameters
    assert len(inspect.signature(file_download._cache_commit_hash_for_specific_revision).parameters) == 3


def test_textual_is_the_version_textual_compat_was_checked_against():
    from importlib.metadata import version

    assert version("textual") == textual_compat.CHECKED_VERSION, (
        f"Textual {version('textual')}: check tui/ui/common/textual_compat.py against it, then update "
        "CHECKED_VERSION"
    )


async def test_bindings_with_keymap_sees_a_user_keymap():
    class Keys(App):
        BINDINGS = [Binding("x", "bell", "Ring", id="test.ring")]

    app = Keys()
    async with app.run_test():
        assert [k for k, b in textual_compat.bindings_with_keymap(app) if b.id == "test.ring"] == ["x"]
        app.set_keymap({"test.ring": "y"})
        assert [k for k, b in textual_compat.bindings_with_keymap(app) if b.id == "test.ring"] == ["y"]
