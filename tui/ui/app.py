"""The llmtui application: one mode per job (browse, leaderboards, my models, chat, compare).

Mode screens are imported only when first shown, so start-up pays for the browse screen alone.
The user's keymap (`keymap:` in settings.yaml, binding id -> keys) applies to every screen.

Views and help are reachable from anywhere: `1`-`5` and `?` where no text field has the focus
(there they type), `alt+1`-`alt+5` and `f1` everywhere, text fields included.
"""

from __future__ import annotations

from functools import cached_property
from importlib import import_module

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from tui.core.catalogue import Catalogue
from tui.core.config.context import AppContext
from tui.ui.common import collector
from tui.ui.common.commands import LlmTuiCommands
from tui.ui.common.errors import show_error
from tui.ui.common.keys import ALT_DIGIT_KEYS
from tui.ui.common.textual_compat import bindings_with_keymap
from tui.ui.common.workers import ReportsWorkerFailures

# mode -> "module:Screen class"; each built on first use.
MODE_SCREENS = {
    "browse": "tui.ui.browse.screen:BrowseScreen",
    "leaderboards": "tui.ui.leaderboards.screen:LeaderboardsScreen",
    "models": "tui.ui.download.screen:ModelsScreen",
    "chat": "tui.ui.chat.screen:ChatScreen",
    "compare": "tui.ui.compare.screen:CompareScreen",
}
FIRST_MODE = "browse"
_MODES = Binding.Group("Views", compact=True)
# mode, footer label, what it does; its key is its place in the list (1-5, alt+1-alt+5).
VIEWS = [
    ("browse", "Models", "Go to the model catalogue"),
    ("leaderboards", "Leaderboards", "Go to the leaderboards"),
    ("models", "My models", "Go to my models (downloads)"),
    ("chat", "Chat", "Go to chat"),
    ("compare", "Compare", "Go to compare side by side"),
]
_ALT_DIGIT_KEY = {digit: name for name, digit in ALT_DIGIT_KEYS.items()}


def _screen_factory(target: str):
    def build() -> Screen:
        module, name = target.split(":")
        return getattr(import_module(module), name)()

    return build


class LlmTui(ReportsWorkerFailures, App):
    TITLE = "llmtui"
    SUB_TITLE = "choose and try open LLMs"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {LlmTuiCommands}
    # The first mode's screen comes from get_default_screen(), which adds the mode.
    MODES = {mode: _screen_factory(target) for mode, target in MODE_SCREENS.items()
             if mode != FIRST_MODE}
    DEFAULT_MODE = FIRST_MODE
    # A digit types into a text field, so each view has a second binding, alt+digit, that works
    # everywhere: a priority binding, and run before a text field can take it (on_event) when it
    # arrives as the character ESC+digit becomes (¡ ™ £ ¢ ∞, also what option+digit types on a
    # Mac). Whoever types one of those characters as text rebinds `mode.<view>.anywhere` to
    # `alt+N` alone in the keymap.
    BINDINGS = [
        *(Binding(str(n), f"view('{mode}')", label, id=f"mode.{mode}", group=_MODES,
                  tooltip=tooltip)
          for n, (mode, label, tooltip) in enumerate(VIEWS, 1)),
        *(Binding(f"alt+{n},{_ALT_DIGIT_KEY[str(n)]}", f"view('{mode}')", label,
                  id=f"mode.{mode}.anywhere", group=_MODES, tooltip=tooltip, priority=True)
          for n, (mode, label, tooltip) in enumerate(VIEWS, 1)),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Show every key"),
        Binding("f1", "help", "Help", id="app.help.anywhere", tooltip="Show every key",
                priority=True),
        Binding("f4", "endpoints", "Endpoints", id="app.endpoints", show=False,
                tooltip="Add, edit, test or remove OpenAI-compatible servers"),
        Binding("f6", "presets", "Presets", id="app.presets", show=False,
                tooltip="Chat presets: create, edit, duplicate, delete, a model's default"),
    ]  # fmt: skip

    def __init__(
        self,
        catalogue: Catalogue,
        first_job: tuple[str, str, dict] | None = None,
        *,
        context: AppContext | None = None,
    ) -> None:
        """`first_job`: (mode, model, options) to open once mounted, e.g. `llmtui chat MODEL`.
        `context`: the one the CLI built (default: built here, from the usual places)."""
        super().__init__()
        self.catalogue = catalogue
        self.context = context or AppContext.load()
        self._first_job = first_job
        self.origin_mode: str | None = None  # the mode the last open_job came from ("back")
        self.set_keymap(self.context.settings.keymap)

    def get_default_screen(self) -> Screen:
        """The first mode's screen, built the way Textual builds a plain app's default screen.

        A screen from MODES delayed the first frame by tens of ms (bench/startup.py): adding its
        CSS file re-parses every stylesheet twice, and its first frame is rendered inside Textual's
        start-up batch, thrown away and rendered again. Here its CSS joins the app's before the
        single first parse, and the screen paints as soon as it is laid out.
        """
        target = MODE_SCREENS[self.DEFAULT_MODE]
        screen = _screen_factory(target)()
        for path in screen.css_path:
            self.stylesheet.read(path)
        if self.css_monitor is not None:  # `textual run --dev` reloads it like the app's own CSS
            self.css_monitor.add_paths(screen.css_path)
        self.add_mode(self.DEFAULT_MODE, _screen_factory(target))  # switch_mode() back to it
        return screen

    @cached_property
    def downloads(self):
        """The app-wide download manager: downloads go on while the user browses."""
        from tui.ui.download.service import DownloadService

        return DownloadService(self, self.context.download_manager())

    def on_mount(self) -> None:
        if self.context.settings_error is not None:  # the defaults apply meanwhile
            show_error(self, self.context.settings_error, timeout=10)
        self.call_after_refresh(collector.freeze_startup)
        # Downloads an earlier run left unfinished resume shortly after start-up.
        self.set_timer(2.0, self._start_downloads)
        if self._first_job is not None:
            mode, model, options = self._first_job
            self.open_job(mode, model, **options)

    @work(thread=True, exit_on_error=False, group="startup")
    def _start_downloads(self) -> None:
        # The download stack (huggingface_hub, httpx: ~250 ms of imports) is loaded and its
        # manager built in this thread, not on the event loop where it would stall typing.
        import_module("tui.ui.download.service")  # and huggingface_hub with it
        manager = self.context.download_manager()
        self.call_from_thread(self._adopt_downloads, manager)

    def _adopt_downloads(self, manager) -> None:
        from tui.ui.download.service import DownloadService

        if "downloads" not in self.__dict__:  # unless a screen needed the service meanwhile
            self.downloads = DownloadService(self, manager)

    def on_unmount(self) -> None:
        collector.unfreeze_all()

    def open_job(self, mode: str, model_id: str, **options) -> None:
        """Switch to a job's mode with a model chosen (from the detail pane's actions)."""
        self.origin_mode = self.current_mode
        self.switch_mode(mode)
        open_model = getattr(self.screen, "open_model", None)
        if open_model is not None:
            open_model(model_id, **options)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if await self._run_before_text_input(event):
                return
        await super().on_event(event)

    async def _run_before_text_input(self, event: events.Key) -> bool:
        """Run the app's priority binding for a key that the focused text field would type.

        Textual leaves a key that a text field types to the field, priority binding or not
        (docs/dependencies.md); alt+digit arriving as ¡ ™ £ ¢ ∞ is such a key.
        """
        focused = self.focused
        if focused is None or not focused.check_consume_key(event.key, event.character):
            return False
        for binding in bindings_with_keymap(self).key_to_bindings.get(event.key, ()):
            if binding.priority and await self.run_action(binding.action):
                return True
        return False

    def get_key_display(self, binding: Binding) -> str:
        digit = ALT_DIGIT_KEYS.get(binding.key)
        if digit is not None and not binding.key_display:
            return f"alt+{digit}"  # what the user pressed, not the character it arrived as
        return super().get_key_display(binding)

    def action_view(self, mode: str) -> None:
        """Go to a view. The help and the command palette, which are about the screen left,
        close; any other dialog stays open in its view for the user's return."""
        from textual.command import CommandPalette

        from tui.ui.common.help import HelpScreen

        while isinstance(self.screen, (HelpScreen, CommandPalette)):
            self.pop_screen()
        self.switch_mode(mode)

    def action_endpoints(self) -> None:
        from tui.ui.endpoints.screen import EndpointsScreen

        if not isinstance(self.screen, EndpointsScreen):
            self.push_screen(EndpointsScreen())

    def action_presets(self) -> None:
        from tui.ui.presets.screen import PresetsScreen

        if not isinstance(self.screen, PresetsScreen):
            self.push_screen(PresetsScreen())

    def action_help(self) -> None:
        """Open the help, or close it (f1 again)."""
        from tui.ui.common.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            self.push_screen(HelpScreen())
