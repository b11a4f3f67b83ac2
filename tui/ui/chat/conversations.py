"""The chat's past conversations: their list (Delete removes one) and the search as you type (ctrl+f),
whose hits take the list's place while there is a query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from tui.core.chat.store import ConversationStore, ConversationSummary, SearchHit
from tui.core.storage import StorageError
from tui.core.text import one_line
from tui.ui.chat.widgets import ROLE_TITLES
from tui.ui.common.storage import show_notice
from tui.ui.common.workers import ReportsWorkerFailures

SEARCH_PAUSE = 0.15  # seconds of no typing before the search runs


class ConversationList(OptionList):
    """Past conversations (option ids are conversation ids); Delete removes the highlighted one."""

    BINDINGS = [
        Binding("delete", "delete", "Delete", id="chat.conversation.delete",
                tooltip="Delete the highlighted conversation"),
    ]

    @dataclass
    class DeleteRequested(Message):
        conversation_id: int

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: list[tuple] = []

    def show(self, conversations: Sequence[ConversationSummary], current: int | None) -> None:
        """List these conversations, the current one in bold. Nothing is rebuilt when nothing shown
        changed: a message in the conversation at the top re-renders no list."""
        shown = [(c.id, c.title, c.model_name, c.id == current) for c in conversations]
        if shown == self._shown:
            return
        self._shown = shown
        self.clear_options()
        self.add_options(
            Option(
                Content.assemble(
                    (one_line(title or "(untitled)", 40), "bold" if is_current else ""),
                    "\n",
                    (one_line(model_name, 40), "dim"),
                ),
                id=str(conversation_id),
            )
            for conversation_id, title, model_name, is_current in shown
        )

    def action_delete(self) -> None:
        if self.highlighted is not None:
            option = self.get_option_at_index(self.highlighted)
            self.post_message(self.DeleteRequested(int(option.id)))

    def focus_at(self, index: int | None) -> None:
        """Focus the list with the option at `index` (or the last) highlighted: after a deletion,
        deleting several goes on here."""
        if self.option_count:
            self.highlighted = min(index or 0, self.option_count - 1)
        self.focus()


class SearchHits(OptionList):
    """Messages found by the conversation search (`hits`): the conversation's title, then who
    wrote it and the snippet with its matches styled (spans of `Content`, never markup)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hits: list[SearchHit] = []

    def show(self, hits: Sequence[SearchHit]) -> None:
        self.hits = list(hits)
        self.clear_options()
        self.add_options(
            Option(
                Content.assemble(
                    (one_line(hit.title or "(untitled)", 40), "dim"),
                    "\n",
                    (f"{ROLE_TITLES[hit.role]}: ", "dim"),
                    # The parts are cleaned and on one line already (the store's).
                    *((text, "bold reverse" if is_match else "") for text, is_match in hit.parts),
                ),
                id=str(index),
            )
            for index, hit in enumerate(self.hits)
        )


class ConversationsPane(ReportsWorkerFailures, Vertical):
    """The conversations in `store`, or the messages its search found; `HitChosen` when one of
    those is chosen (a conversation chosen is the list's `OptionSelected`)."""

    @dataclass
    class HitChosen(Message):
        hit: SearchHit

    @dataclass
    class Found(Message):
        query: str
        hits: list[SearchHit]

    def __init__(self, store: ConversationStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self._search_timer = None

    def compose(self) -> ComposeResult:
        yield Label("Conversations", classes="pane-title")
        yield Input(placeholder="search (ctrl+f)", id="conversation-search")
        yield ConversationList(id="conversations")
        yield SearchHits(id="search-hits")

    def show_list(self, current: int | None) -> None:
        """List the conversations stored now, `current` in bold (unreadable: the list stays)."""
        try:
            conversations = self.store.list()
        except StorageError as error:
            show_notice(self, error)
            return
        self.query_one(ConversationList).show(conversations, current)

    def focus_list(self) -> None:
        """Focus the hits while there are, else the list, the first highlighted if none is."""
        found = self.query_one(SearchHits)
        options = found if found.display else self.query_one(ConversationList)
        options.focus()
        if options.highlighted is None and options.option_count:
            options.highlighted = 0

    @on(Input.Changed, "#conversation-search")
    def _search_typed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        if not event.value.strip():
            self._show_search(None)
            return
        self._search_timer = self.set_timer(SEARCH_PAUSE, lambda: self._search(event.value))

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _search(self, query: str) -> None:
        try:
            self.post_message(self.Found(query, self.store.search(query)))
        except StorageError as error:
            self.app.call_from_thread(show_notice, self, error)

    @on(Found)
    def _found(self, event: Found) -> None:
        if event.query == self.query_one("#conversation-search", Input).value:
            self._show_search(event.hits)  # else typed on meanwhile: a later search comes

    def _show_search(self, hits: list[SearchHit] | None) -> None:
        """The hits in place of the list (None: the list again)."""
        found = self.query_one(SearchHits)
        found.display = hits is not None
        self.query_one(ConversationList).display = hits is None
        title = self.query_one(".pane-title", Label)
        if hits is None:
            title.update("Conversations")
            return
        counted = f"{len(hits)} message{'' if len(hits) == 1 else 's'} found"
        title.update(counted if hits else "Nothing found")
        found.show(hits)

    @on(Input.Submitted, "#conversation-search")
    def _search_submitted(self) -> None:
        found = self.query_one(SearchHits)
        if found.display and found.option_count:
            found.focus()
            found.highlighted = 0

    @on(OptionList.OptionSelected, "#search-hits")
    def _hit_chosen(self, event: OptionList.OptionSelected) -> None:
        self.post_message(self.HitChosen(self.query_one(SearchHits).hits[int(event.option.id)]))
