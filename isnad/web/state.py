"""What the web app holds for its whole life: the settings, the archive (catalog and storage,
opened once), the account store, and the API's rate limiter."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import Request

    from isnad.app.accounts import AccountStore
    from isnad.app.archive import Archive
    from isnad.config import Settings


class RateLimiter:
    """At most ``per_minute`` requests in any 60 seconds for each key (an API token), counted
    in this process. A request past it is refused with how many seconds until one is free."""

    def __init__(self, per_minute: int, window: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> int | None:
        """Count a request; None if allowed, else the seconds to wait (Retry-After)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return max(1, math.ceil(seen[0] + self.window - now))
            seen.append(now)
            return None


@dataclass
class WebState:
    """The app's long-lived parts (``app.state.isnad``)."""

    settings: Settings
    archive: Archive
    accounts: AccountStore
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.settings.web.rate_limit)


def web_state(request: Request) -> WebState:
    """The state of the app serving ``request``."""
    return request.app.state.isnad  # type: ignore[no-any-return]
