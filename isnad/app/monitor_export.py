"""A monitor in an export bundle: its captures, its timeline, and each capture's place in it.

``isnad export --monitor ID`` bundles every packaged capture the monitor made (the listing
snapshot of each run, each post's capture and rechecks, the evidence of a disappearance) with
``timeline.json`` (the record ``isnad monitor timeline --json`` prints) and the timeline in
the report. Any exported capture made for a monitor carries ``monitor.json``: the monitor,
the capture's role, and its post's timeline entry (or its run's, for a listing). Both are
written before ``SHA256SUMS``, so the bundle's hashes cover them.
"""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import select

from archiver.archive import Archive
from archiver.catalog import CaptureRow
from archiver.errors import IsnadError
from archiver.jobs import JobCaptureRow, JobRow
from archiver.states import JobSource
from isnad.config import Settings


def monitor_captures(settings: Settings, archive: Archive, monitor_id: str
                     ) -> tuple[dict[str, Any], list[str], list[str]]:
    """A monitor's timeline, the ids of its captures that have a package (in the order they
    were made), and those that have none (failed before packaging: in the timeline only)."""
    from isnad.app.monitors import timeline

    data = timeline(settings, archive, monitor_id)
    ids = {r["listing_capture"] for r in data["runs"] if r["listing_capture"]}
    ids |= {c["id"] for p in data["posts"] for c in p["captures"] if c["id"]}
    packaged, unpackaged = [], []
    for capture_id in sorted(ids):  # capture ids are time-ordered (UUIDv7)
        (packaged if archive.catalog.get(capture_id).package_key else unpackaged
         ).append(capture_id)
    return data, packaged, unpackaged


class MonitorEntries:
    """The monitor entry of each exported capture (each monitor's timeline read once)."""

    def __init__(self, settings: Settings, archive: Archive,
                 timelines: dict[str, dict[str, Any]] | None = None) -> None:
        self.settings = settings
        self.archive = archive
        self.timelines: dict[str, dict[str, Any] | None] = dict(timelines or {})

    def _timeline(self, monitor_id: str) -> dict[str, Any] | None:
        if monitor_id not in self.timelines:
            from isnad.app.monitors import timeline

            try:
                self.timelines[monitor_id] = timeline(self.settings, self.archive, monitor_id)
            except IsnadError:  # the monitor was removed: its timeline cannot be read
                self.timelines[monitor_id] = None
        return self.timelines[monitor_id]

    def _job(self, capture_id: str) -> JobRow | None:
        """The job that made a capture (a capture made outside the queue has none)."""
        with self.archive.catalog.session() as s:
            job_id = s.scalar(select(JobCaptureRow.job_id).where(
                JobCaptureRow.capture_id == capture_id))
            return s.get(JobRow, job_id) if job_id else None

    def entry(self, row: CaptureRow) -> dict[str, Any] | None:
        """Where ``row`` stands in its monitor's timeline; None for a capture made for no
        monitor."""
        job = self._job(row.id)
        if job is None or not job.source.startswith(f"{JobSource.MONITOR}:"):
            return None
        monitor_id = job.source.split(":", 1)[1]
        info = job.spec.get("monitor") or {}
        role = info.get("role")
        data = self._timeline(monitor_id)
        if data is None:
            return {"monitor": {"id": monitor_id}, "role": role, "capture": row.id,
                    "note": "the monitor was removed: its timeline is not in the catalog"}
        entry: dict[str, Any] = {"monitor": data["monitor"], "role": role, "capture": row.id}
        if role == "listing":
            entry["run"] = next((r for r in data["runs"] if r["listing_capture"] == row.id
                                 or r["job"] == job.id), None)
        else:
            entry["post"] = next((p for p in data["posts"]
                                  if (p["platform"], p["post_id"]) ==
                                  (info.get("platform"), info.get("post_id"))), None)
        return entry


def _when(moment: str | None) -> str:
    return (moment or "")[:19].replace("T", " ")


def timeline_section(data: dict[str, Any], exported: set[str]) -> str:
    """The timeline as the report shows it: the runs, then each post's history."""
    e = html.escape
    mon = data["monitor"]
    schedule = f"every {mon['every']} s" if mon["every"] else f"cron {mon['cron']}"

    def capture(capture_id: str | None) -> str:
        if not capture_id:
            return "-"
        shown = f"<code>{e(capture_id)}</code>"
        return f"<a href='{e(capture_id)}/'>{shown}</a>" if capture_id in exported else \
            f"{shown} (not in this bundle: no package)"

    out = [f"<h2>Monitor timeline: {e(mon['url'])}</h2>",
           f"<p>Monitor <code>{e(mon['id'])}</code> ({e(str(mon['platform']))}, {e(schedule)}"
           f", case {e(str(mon['case'] or '-'))}), watched since {e(_when(mon['created_at']))}"
           f" UTC by {e(mon['operator'])}: {len(data['runs'])} run(s), {len(data['posts'])} "
           "post(s). The same record, as JSON, is <a href='timeline.json'>timeline.json</a>."
           "</p>", "<h3>Runs (each lists the channel; its listing is a capture)</h3><table>"
           "<tr><th>Started (UTC), state</th><td><b>listed, new, listing capture, notes</b>"
           "</td></tr>"]
    for run in data["runs"]:
        notes = "".join(f"<br><span class='small'>{e(n)}</span>" for n in run["notes"])
        out.append(f"<tr><th>{e(_when(run['started_at']))}<br>{e(run['state'] or 'running')}"
                   f"</th><td>listed {run['listed']}, new {run['new_posts']}; "
                   f"{capture(run['listing_capture'])}{notes}</td></tr>")
    out.append("</table><h3>Posts, in the order first seen</h3><table><tr><th>Post</th><td>"
               "<b>first / last seen (UTC), state, captures</b></td></tr>")
    for post in data["posts"]:
        lines = [f"first seen {e(_when(post['first_seen']))}, last seen "
                 f"{e(_when(post['last_seen']))}; <b>{e(post['state'])}</b>"]
        lines += [f"{e(str(c['role']))} capture {capture(c['id'])}: {e(str(c['state']))}, "
                  f"post {e(str(c['post_status'] or '?'))}, {e(_when(c['started_at']))}"
                  for c in post["captures"]]
        if gone := post.get("disappeared"):
            lines.append(f"<b>DISAPPEARED</b> ({e(str(gone['status']))}) at "
                         f"{e(_when(gone['at']))}: evidence {capture(gone['evidence_capture'])}"
                         f", recorded on {capture(gone['on_capture'])}")
        out.append(f"<tr><th>{e(post['platform'])} {e(post['post_id'])}<br><span "
                   f"class='small'>{e(post['url'])}</span></th><td>{'<br>'.join(lines)}"
                   "</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def capture_line(entry: dict[str, Any]) -> str:
    """One line of a capture's table in the report: what the capture is for its monitor."""
    mon = entry["monitor"]
    where = f"monitor {mon['id']}" + (f" ({mon['url']})" if mon.get("url") else "")
    if entry.get("note"):
        return f"{where}: {entry['note']}"
    if entry["role"] == "listing":
        run = entry.get("run") or {}
        return (f"the listing of run {run.get('id')} of {where}: listed {run.get('listed')}, "
                f"new {run.get('new_posts')} (monitor.json)")
    post = entry.get("post") or {}
    gone = post.get("disappeared") or {}
    state = post.get("state", "?") + (f" ({gone.get('status')})" if gone else "")
    return (f"{entry['role']} capture of {post.get('platform')} post {post.get('post_id')} of "
            f"{where}; first seen {_when(post.get('first_seen'))} UTC, now {state} "
            "(its history: monitor.json)")
