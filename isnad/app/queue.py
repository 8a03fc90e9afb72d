"""The capture queue, on Huey: a SQLite file under the data folder by default (nothing to set
up), Redis when several machines share the work (``queue.url = "redis://…"``).

Why Huey: it is a small, well-kept task queue whose SQLite storage needs no server, and whose
Redis storage (with priorities) runs the very same tasks across machines; its consumer drains
gracefully on SIGTERM with a time limit. It carries only job ids: the catalog's job table says
what a job is and where it stands (see :mod:`archiver.jobs`), so a message delivered twice runs
once, and a job whose message was lost with a dead worker is found and queued again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from huey import Huey, PriorityRedisHuey, SqliteHuey

from archiver.errors import IsnadError
from isnad.config import Settings

QUEUE_NAME = "isnad"
TASK_NAME = "capture"


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

    def put(self, job_id: str, priority: int) -> None:
        """Hand a job id to the queue; the higher the priority, the sooner it runs."""
        self.huey.enqueue(self.task.s(job_id, priority=priority))

    def waiting(self) -> int:
        """Messages not yet taken by a worker (some may be for jobs cancelled since)."""
        return self.huey.pending_count()


def _refuse_here(job_id: str) -> None:
    raise IsnadError(f"job {job_id} reached a process that only submits jobs")


def _open_huey(settings: Settings) -> Huey:
    url = settings.queue.url
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        return PriorityRedisHuey(QUEUE_NAME, url=url, results=False)
    if url and not url.startswith("sqlite:///"):
        raise IsnadError(f"queue.url {url!r} (ISNAD_QUEUE__URL): use redis://… or sqlite:///…")
    path = Path(url.removeprefix("sqlite:///")) if url else settings.home / "queue.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Many submitters and workers write at once: SQLite waits for its lock.
    return SqliteHuey(QUEUE_NAME, filename=str(path), results=False, timeout=60)
