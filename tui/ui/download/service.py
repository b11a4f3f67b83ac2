"""The app-wide download service: one DownloadManager for the whole app, so downloads keep going
while the user browses, and a notification when one finishes or fails.

The manager's workers put each Status in the app's pump (`tui.ui.common.pump`), which drains while
a download is queued or working and parks when none is. Each drain notifies the downloads that
finished and publishes every download's status on `changed` (My models and the quant picker render
it). The statuses are read afresh each drain, so the bytes that arrived after the last (throttled)
progress event show too, and a stall shows as one."""

from __future__ import annotations

from functools import partial

from textual.app import App
from textual.signal import Signal

from tui.core.models.downloads import DownloadManager, State, Status, requests_for
from tui.core.models.hub import QuantFile
from tui.core.text import one_line
from tui.ui.common.pump import Pump

STATUSES = "statuses"  # the pump's one key


class DownloadService:
    def __init__(self, app: App, manager: DownloadManager) -> None:
        self.app = app
        self.manager = manager
        self.changed: Signal[list[Status]] = Signal(app, "downloads-changed")
        self._pump = Pump(app, self._drain)
        self._pump.park()  # until the first status
        manager.on_event = partial(self._pump.put, STATUSES)
        manager.restore()

    async def _drain(self) -> None:
        for status in self._pump.take_items(STATUSES):
            name = one_line(status.request.filename, 80)
            if status.state == State.DONE:
                self.app.notify(
                    f"{name} is ready (verified).", title="Download finished", markup=False
                )
            elif status.state == State.FAILED:
                self.app.notify(one_line(status.message or "failed", 300), title=f"{name} failed",
                                severity="error", markup=False, timeout=10)  # fmt: skip
        statuses = self.manager.statuses()  # read after the events taken: as new as they are
        self.changed.publish(statuses)
        if not any(s.state.running for s in statuses):
            self._pump.park()

    def submit(self, file: QuantFile, revision: str = "main") -> list[str]:
        return [self.manager.submit(r) for r in requests_for(file, revision)]

    def statuses(self) -> list[Status]:
        return self.manager.statuses()

    def pause_or_resume(self, job_id: str) -> None:
        status = self.manager.status(job_id)
        if status is None:
            return
        if status.state in (State.PAUSED, State.FAILED):
            self.manager.resume(job_id)
        elif not status.state.finished:
            self.manager.pause(job_id)

    def cancel(self, job_id: str) -> None:
        self.manager.cancel(job_id)
