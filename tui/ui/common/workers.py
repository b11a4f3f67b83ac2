"""One place where a worker's failure becomes a visible error.

Every widget or screen with `@work(..., exit_on_error=False)` methods takes `ReportsWorkerFailures`:
a worker that raises is shown as a notification (an `LlmtuiError` with its own message and title,
anything else as an unexpected error) and `worker_failed` lets the node leave the state the work
left it in ("loading…"), so a failing thread never vanishes and the app keeps running.
"""

from __future__ import annotations

from textual.worker import Worker, WorkerState

from tui.core.errors import LlmtuiError
from tui.ui.common.errors import show_error


def as_error(error: BaseException) -> LlmtuiError:
    """`error` as something the app can show: a bug is an unexpected error, said as such."""
    if isinstance(error, LlmtuiError):
        return error
    return LlmtuiError(f"unexpected error: {error}", title="Something went wrong")


class ReportsWorkerFailures:
    """For a DOM node that starts workers. By name, not `@on`: Textual does not see a mixin's
    `@on` handlers (the node that started a worker gets its `Worker.StateChanged`)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        show_error(self, as_error(event.worker.error))
        self.worker_failed(event.worker)

    def worker_failed(self, worker: Worker) -> None:
        """`worker` raised (already shown): leave what it was doing, e.g. a "loading…" state."""
