"""The app-wide download service: one DownloadManager for the whole app, so downloads keep going
while the user browses, and a notification when one finishes.

Download workers call `_on_event` from their threads: it only stores the newest Status (under a
lock) and bumps `version`. The UI reads on its own clock: the My models screen renders at most ten
times a second, and an app timer (four times a second) turns finished downloads into
notifications."""

from __future__ import annotations

import threading
from collections import deque

from textual.app import App

from tui.core.models.downloads import DownloadManager, State, Status, requests_for
from tui.core.models.hub import QuantFile
from tui.core.text import one_line


class DownloadService:
    def __init__(self, app: App, manager: DownloadManager) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._finished: deque[Status] = deque()
        self.version = 0
        self.manager = manager
        manager.on_event = self._on_event
        manager.restore()
        self._timer = app.set_interval(0.25, self._notify_finished)

    def _on_event(self, status: Status) -> None:  # worker threads
        with self._lock:
            self.version += 1
            if status.state in (State.DONE, State.FAILED):
                self._finished.append(status)

    def _notify_finished(self) -> None:  # UI thread
        with self._lock:
            finished = list(self._finished)
            self._finished.clear()
        for status in finished:
            name = one_line(status.request.filename, 80)
            if status.state == State.DONE:
                self.app.notify(
                    f"{name} is ready (verified).", title="Download finished", markup=False
                )
            else:
                self.app.notify(one_line(status.message or "failed", 300), title=f"{name} failed",
                                severity="error", markup=False, timeout=10)  # fmt: skip

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
