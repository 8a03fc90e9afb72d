"""The capture queue, on Huey: a SQLite file under the data folder by default (nothing to set
up), Redis when several machines share the work (``queue.url = "redis://…"``).

Why Huey: it is a small, well-kept task queue whose SQLite storage needs no server, and whose
Redis storage (with priorities) runs the very same tasks across machines; its consumer drains
gracefully on SIGTERM with a time limit. It carries only job ids: the catalog's job table says
what a job is and where it stands (see :mod:`archiver.jobs`), so a message delivered twice runs
once, and a job whose message was lost with a dead worker is found and queued again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from huey import Huey, PriorityRedisHuey, SqliteHuey
from redis import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError as RedisResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from archiver.errors import IsnadError
from isnad.config import Settings

log = logging.getLogger("isnad.queue")

QUEUE_NAME = "isnad"
TASK_NAME = "capture"
# A Redis that does not answer is an outage after this many seconds (not a hang); reads are
# longer than Huey's own blocking read (1 s).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


# What a Redis that cannot be reached raises (through Huey, too).
OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError)


class QueueUnavailable(IsnadError):
    """The queue's server (Redis) cannot be reached now."""


class CaptureQueue:
    """The queue of capture job ids."""

    def __init__(self, settings: Settings,
                 run_job: Callable[[str], None] | None = None) -> None:
        """Open the queue the settings name, with the capture task registered.

        A worker passes ``run_job`` (what runs a job); a process that only submits passes
        nothing. Both register the task under one name, which is all a message carries."""
        self.huey = _open_huey(settings)
        runner = run_job or _refuse_here

        def capture(job_id: str) -> None:
            runner(job_id)

        self.task = self.huey.task(name=TASK_NAME)(capture)
        self.where = _shown(settings.queue.url) or str(settings.home / "queue.db")

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        try:
            yield
        except OUTAGE_ERRORS as exc:
            raise QueueUnavailable(f"the queue at {self.where} cannot be reached: "
                                   f"{_one_line(exc)}") from exc

    def check(self) -> None:
        """Raise :class:`QueueUnavailable` unless the queue answers now."""
        with self._reaching():
            self.huey.pending_count()

    def put(self, job_id: str, priority: int) -> None:
        """Hand a job id to the queue; the higher the priority, the sooner it runs."""
        with self._reaching():
            self.huey.enqueue(self.task.s(job_id, priority=priority))

    def offer(self, job_id: str, priority: int) -> bool:
        """:meth:`put` for a job already committed as queued in the catalog, where a queue
        outage must not undo the work around it: False (and a warning) when the queue cannot
        be reached; a worker gives the job its message when the queue is back."""
        try:
            self.put(job_id, priority)
        except QueueUnavailable as exc:
            log.warning("job %s is queued in the catalog, not yet in the queue (%s): a worker "
                        "puts it there when the queue is back", job_id, exc)
            return False
        return True

    def waiting(self) -> int:
        """Messages not yet taken by a worker (some may be for jobs cancelled since)."""
        with self._reaching():
            return self.huey.pending_count()

    def incarnation(self) -> str | None:
        """What changes when the queue's server restarts (Redis's ``run_id``): a Redis
        restarted without persistence lost its messages, and the workers must look.
        None for the SQLite queue (a file does not forget)."""
        if not isinstance(self.huey, PriorityRedisHuey):
            return None
        with self._reaching():
            try:
                return str(self.huey.storage.conn.info("server").get("run_id"))
            except RedisResponseError:
                return None  # INFO refused (a managed Redis): the periodic reconcile covers it

    def pending_ids(self) -> set[str]:
        """The job ids that have a message waiting in the queue."""
        with self._reaching():
            return {t.args[0] for t in self.huey.pending() if t.args}


def _refuse_here(job_id: str) -> None:
    raise IsnadError(f"job {job_id} reached a process that only submits jobs")


def _open_huey(settings: Settings) -> Huey:
    url = settings.queue.url
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        pool = ConnectionPool.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT,
                                       socket_timeout=READ_TIMEOUT, health_check_interval=30)
        return PriorityRedisHuey(QUEUE_NAME, connection_pool=pool, results=False)
    if url and not url.startswith("sqlite:///"):
        raise IsnadError(f"queue.url {url!r} (ISNAD_QUEUE__URL): use redis://… or sqlite:///…")
    path = Path(url.removeprefix("sqlite:///")) if url else settings.home / "queue.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Many submitters and workers write at once: SQLite waits for its lock.
    return SqliteHuey(QUEUE_NAME, filename=str(path), results=False, timeout=60)


def _shown(url: str | None) -> str | None:
    """The queue's URL as it may be shown (a password left out)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{netloc}"))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
