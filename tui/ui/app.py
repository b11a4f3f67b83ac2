"""The llmtui application: one mode per job (browse, leaderboards, my models, chat, compare).

Mode screens are imported only when first shown, so start-up pays for the browse screen alone.
"""

from __future__ import annotations

from importlib import import_module

from textual.app import App
from textual.binding import Binding

from tui.core.catalogue import Catalogue

# mode -> "module:Screen class"; each built on first use.
MODE_SCREENS = {
    "browse": "tui.ui.browse.screen:BrowseScreen",
    "leaderboards": "tui.ui.browse.leaderboards:LeaderboardsScreen",
    "models": "tui.ui.download.screen:ModelsScreen",
    "chat": "tui.ui.chat.screen:ChatScreen",
    "compare": "tui.ui.compare.screen:CompareScreen",
}


def _screen_factory(target: str):
    def build():
        module, name = target.split(":")
        return getattr(import_module(module), name)()

    return build


class LlmTui(App):
    TITLE = "llmtui"
    SUB_TITLE = "choose and try open LLMs"
    MODES = {mode: _screen_factory(target) for mode, target in MODE_SCREENS.items()}
    DEFAULT_MODE = "browse"
    BINDINGS = [
        Binding("1", "switch_mode('browse')", "Models", id="mode.browse"),
        Binding("2", "switch_mode('leaderboards')", "Leaderboards", id="mode.leaderboards"),
        Binding("3", "switch_mode('models')", "My models", id="mode.models"),
        Binding("4", "switch_mode('chat')", "Chat", id="mode.chat"),
        Binding("5", "switch_mode('compare')", "Compare", id="mode.compare"),
        Binding("question_mark", "help", "Help", id="app.help"),
    ]

    def __init__(self, catalogue: Catalogue) -> None:
        super().__init__()
        self.catalogue = catalogue

    def open_job(self, mode: str, model_id: str) -> None:
        """Switch to a job's mode with a model chosen (from the detail pane's actions)."""
        self.switch_mode(mode)
        open_model = getattr(self.screen, "open_model", None)
        if open_model is not None:
            open_model(model_id)

    def action_help(self) -> None:
        from tui.ui.help import HelpScreen

        self.push_screen(HelpScreen())
