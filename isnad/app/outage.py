"""A catalog that cannot be reached, said as it is lived, by every service that looks at it
on a timer (a worker's heartbeat, the scheduler's heartbeat and lease, the alert courier).

One warning line when the outage starts, one every ``remind_every`` seconds while it lasts,
one line when it ends: not a traceback a second, which once filled a stderr pipe nobody read
and blocked the worker in logging for good.
"""

from __future__ import annotations

import logging
import threading
import time

from isnad.app.runner import CATALOG_DOWN, one_line

__all__ = ["CATALOG_DOWN", "OUTAGE_REMINDER", "CatalogOutage"]

OUTAGE_REMINDER = 60.0  # seconds between the warnings that the catalog is still unreachable


class CatalogOutage:
    """One outage as several threads of a service see it (thread-safe): the first failed
    look says it, the first look that goes through after it says it ended.

    ``meanwhile`` says what the service does while the catalog is down."""

    def __init__(self, what: str, remind_every: float = OUTAGE_REMINDER, *,
                 meanwhile: str = "running captures go on, their jobs are settled when "
                                  "it is back",
                 logger: logging.Logger | None = None) -> None:
        self.what = what
        self.remind_every = remind_every
        self.meanwhile = meanwhile
        self.log = logger or logging.getLogger("isnad.outage")
        self.since: float | None = None
        self.said = 0.0
        self.failures = 0
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        """A look at the catalog failed for want of it."""
        with self._lock:
            now = time.monotonic()
            self.failures += 1
            if self.since is None:
                self.since, self.said, self.failures = now, now, 1
                self.log.warning("%s: the catalog cannot be reached (%s); %s", self.what,
                                 one_line(exc), self.meanwhile)
            elif now - self.said >= self.remind_every:
                self.said = now
                self.log.warning("%s: the catalog still cannot be reached after %.0f s (%s)",
                                 self.what, now - self.since, one_line(exc))

    def ended(self) -> None:
        """A look at the catalog went through: an outage under way is over."""
        with self._lock:
            if self.since is None:
                return
            self.log.warning("%s: the catalog answers again after %.0f s (%d failed look(s))",
                             self.what, time.monotonic() - self.since, self.failures)
            self.since = None
