"""Media of a capture through yt-dlp (as a library): best video and audio, subtitles,
thumbnails and the info JSON, for the page URL and for media the page loaded.

yt-dlp writes to disk as it downloads (memory stays bounded whatever the size) and merges
with Debian's ffmpeg. A file yt-dlp downloads itself is hashed as it grows (its new bytes read
back from the page cache by a thread, while the download goes on), and that hash is kept only if
the file is still the very file hashed when it is collected (same inode, size and change time:
a post-processor that rewrote or replaced it changes them); any other file (a merge's output,
subtitles, thumbnails, the info JSON) is hashed once, after. Packaging hashes each file again as
it copies it in and refuses a difference (archiver.package).

Given the capture's WARC, every HTTP(S) exchange yt-dlp (and the ffmpeg it starts) makes goes
through a :class:`~crawlers.recording_proxy.RecordingProxy` and is recorded there as a
request/response pair: the page yt-dlp reads again with its own agent, the media, the
fragments. yt-dlp trusts only that proxy's throwaway CA; the proxy verifies the real sites.

Limits (bytes, duration, count) come from the settings; an item that fails or is over a limit
is a reason for PARTIAL, never skipped silently. A page with no media is not a failure.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import ssl
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.errors import CaptureFailed, CaptureRefused
from archiver.hashing import FileDigest, file_digest
from archiver.warcwriter import CaptureWarc
from crawlers.netguard import check_target
from crawlers.recording_proxy import RecordingProxy, RecordingStats

log = logging.getLogger(__name__)

NO_MEDIA = ("Unsupported URL", "No video formats found", "no suitable InfoExtractor")


@dataclass(frozen=True)
class MediaLimits:
    enabled: bool = True
    max_bytes: int = 2 * 1024**3
    max_duration: float = 4 * 3600
    max_items: int = 10
    format: str = "bestvideo*+bestaudio/best"
    subtitles: bool = True
    thumbnails: bool = True
    socket_timeout: float = 30.0
    proxy: str | None = None
    # The capture's agent; yt-dlp otherwise picks a random desktop Chrome agent of its own.
    user_agent: str | None = None


@dataclass
class MediaFile:
    path: Path
    name: str  # its path in the package, media/...
    kind: str  # video, audio, subtitle, thumbnail, info
    sha256: str
    size: int
    source_url: str
    # Its SHA-256, size and CRC-32, taken as it was downloaded or right after (taken_digest).
    taken: FileDigest | None = None


class GrowingFileHashes:
    """SHA-256 of the files yt-dlp downloads, taken while they are written (a progress hook).

    For each file a thread reads what yt-dlp has appended since its last read (from the page
    cache, as the download goes on) and hashes it; when yt-dlp says the file is finished the
    thread reads to its end and the file's identity (inode, size, change time) is noted with
    the digest. :meth:`digest` gives the hash only for a file whose identity is unchanged: a
    file rewritten, replaced or renamed since is hashed again by the caller. A download that
    went back (a retry that truncated the file) is not hashed here at all."""

    def __init__(self) -> None:
        self._growing: dict[str, _GrowingFile] = {}
        self._done: dict[str, tuple[tuple[int, int, int], FileDigest]] = {}
        self._lock = threading.Lock()

    def hook(self, status: dict[str, Any]) -> None:
        """yt-dlp's progress hook."""
        name = status.get("filename")
        if not name:
            return
        with self._lock:
            growing = self._growing.get(name)
            if status.get("status") == "downloading":
                temp = status.get("tmpfilename") or name
                if growing is None or growing.temp != temp:
                    if growing is not None:
                        growing.stop()
                    growing = self._growing[name] = _GrowingFile(temp)
                growing.advance(int(status.get("downloaded_bytes") or 0))
                return
            self._growing.pop(name, None)
        if growing is not None and status.get("status") == "finished":
            found = growing.finish(name)
            if found is not None:
                with self._lock:
                    self._done[os.path.realpath(name)] = found
        elif growing is not None:  # an error: what was hashed means nothing
            growing.stop()

    def digest(self, path: Path) -> FileDigest | None:
        """The hash taken while ``path`` was downloaded, if it is still that very file."""
        with self._lock:
            found = self._done.get(os.path.realpath(path))
        if found is None:
            return None
        identity, digest = found
        return digest if _identity(os.stat(path)) == identity else None

    def close(self) -> None:
        """Stop the threads of downloads that never finished."""
        with self._lock:
            growing, self._growing = list(self._growing.values()), {}
        for one in growing:
            one.stop()


def _identity(stat: os.stat_result) -> tuple[int, int, int]:
    # The change time cannot be set by a program (unlike the modification time, which
    # yt-dlp sets from Last-Modified): any write, truncation or rename changes it.
    return stat.st_ino, stat.st_size, stat.st_ctime_ns


class _GrowingFile:
    """One file being downloaded, hashed by a thread as it grows."""

    def __init__(self, temp: str) -> None:
        self.temp = temp
        self._digest = hashlib.sha256()
        self._crc32 = 0  # what a zip member stored as it is needs: packaging reads nothing
        self._hashed = 0
        self._reported = 0  # the largest size yt-dlp reported
        self._valid = True
        self._wake = threading.Condition()
        self._finishing = False
        self._stopped = False
        self._fd: int | None = None
        self._thread = threading.Thread(target=self._run, name="media-hash", daemon=True)
        self._thread.start()

    def advance(self, downloaded: int) -> None:
        with self._wake:
            if self._fd is None and self._valid:
                # Opened here, in yt-dlp's thread, right after it wrote: the file exists, and
                # the descriptor follows it across the rename that ends the download.
                try:
                    self._fd = os.open(self.temp, os.O_RDONLY)
                except OSError:
                    self._valid = False
            if downloaded < self._reported:  # the download went back: a retry from scratch
                self._valid = False
            self._reported = max(self._reported, downloaded)
            self._wake.notify()

    def finish(self, final: str) -> tuple[tuple[int, int, int], FileDigest] | None:
        """Hash to the end; the file's identity and digest (None: not hashed soundly)."""
        with self._wake:
            self._finishing = True
            self._wake.notify()
        self._thread.join()
        try:
            if not self._valid or self._fd is None:
                return None
            stat = os.fstat(self._fd)
            if stat.st_size != self._hashed or _identity(os.stat(final))[:2] != \
                    (stat.st_ino, stat.st_size):
                return None
            return _identity(os.stat(final)), FileDigest(self._digest.hexdigest(),
                                                         self._hashed, self._crc32)
        except OSError:
            return None
        finally:
            self._close()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join()
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._stopped or self._finishing or self._reported > self._hashed):
                    self._wake.wait()
                if self._stopped or not self._valid:
                    return
                finishing = self._finishing
            try:
                self._read_available()
            except OSError:
                self._valid = False
                return
            if finishing:
                return

    def _read_available(self) -> None:
        if self._fd is None:
            self._valid = False
            return
        size = os.fstat(self._fd).st_size
        if size < self._hashed:  # truncated under us
            self._valid = False
            return
        while self._hashed < size:
            chunk = os.pread(self._fd, min(4 * 1024 * 1024, size - self._hashed), self._hashed)
            if not chunk:
                break
            self._digest.update(chunk)
            self._crc32 = zlib.crc32(chunk, self._crc32)
            self._hashed += len(chunk)


@dataclass
class MediaOutcome:
    files: list[MediaFile] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recording: RecordingStats | None = None  # the exchanges recorded into the WARC

    def recording_context(self) -> dict[str, Any] | None:
        """How yt-dlp's traffic was recorded, for the capture context (None: not recorded)."""
        stats = self.recording
        if stats is None:
            return None
        return {"method": "recording proxy on 127.0.0.1 (yt-dlp and ffmpeg; HTTPS intercepted "
                          "with a throwaway CA, sites verified by the proxy)",
                "exchanges": stats.exchanges, "payload_bytes": stats.payload_bytes,
                "truncated": stats.truncated, "servers": stats.servers, "tls": stats.tls,
                "refused_requests": stats.refused, "failed_requests": stats.failed,
                "unrecorded": stats.unrecorded, "user_agents": stats.user_agents}

    @property
    def count(self) -> int:
        """Media items downloaded so far: each entry of a playlist counts as one."""
        return sum(len(item.get("entries") or [None]) for item in self.items)


class _Log:
    """yt-dlp's messages into our log, its errors kept for the reason line."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        self.errors.append(msg.removeprefix("ERROR: "))


def fetch_media(urls: list[str], dest: Path, limits: MediaLimits, *,
                allow_private_networks: bool, private_origins: Iterable[str] = (),
                warc: CaptureWarc | None = None, redact: tuple[str, ...] = ()) -> MediaOutcome:
    """Download the media of each URL (deduplicated by SHA-256) into ``dest``.

    With ``warc`` (the capture's, still open), yt-dlp's traffic goes through a recording
    proxy that writes every exchange into it, chained to ``limits.proxy`` if set; the SSRF
    guard (``allow_private_networks``, ``private_origins``) applies to each connection it
    makes. ``redact``: request header names whose values are kept out of the records."""
    outcome = MediaOutcome()
    if not limits.enabled or not urls:
        return outcome
    origins = frozenset(private_origins)
    if warc is None:
        _fetch_all(urls, dest, limits, outcome, allow_private_networks, origins, None)
        return outcome
    dest.mkdir(parents=True, exist_ok=True)
    proxy = RecordingProxy(warc, spool_dir=dest.parent, upstream_proxy=limits.proxy,
                           allow_private_networks=allow_private_networks,
                           private_origins=origins,
                           timeout=limits.socket_timeout, redact=redact)
    with proxy:
        _fetch_all(urls, dest, limits, outcome, allow_private_networks, origins, proxy)
    outcome.recording = proxy.stats
    for refused in proxy.stats.refused:
        outcome.reasons.append(f"media: a request of yt-dlp to {refused['url']} was "
                               f"{refused['reason']}")
    if proxy.stats.unrecorded:
        first = proxy.stats.unrecorded[0]
        outcome.reasons.append(
            f"media: {len(proxy.stats.unrecorded)} exchange(s) of yt-dlp are not in the WARC "
            f"(first: {first['url']}: {first['reason']})")
    if proxy.stats.truncated:
        outcome.warnings.append(
            f"media: {proxy.stats.truncated} response(s) were not read to the end by yt-dlp "
            "(recorded with WARC-Truncated: disconnect)")
    return outcome


def _fetch_all(urls: list[str], dest: Path, limits: MediaLimits, outcome: MediaOutcome,
               allow_private_networks: bool, private_origins: frozenset[str],
               proxy: RecordingProxy | None) -> None:
    seen: set[str] = set()
    for number, url in enumerate(dict.fromkeys(urls)):
        if outcome.count >= limits.max_items:
            outcome.reasons.append(f"media: more than {limits.max_items} items; the rest of "
                                   "the page's media was not downloaded (media.max_items)")
            break
        try:
            check_target(url, allow_private_networks, proxied=bool(limits.proxy),
                         private_origins=private_origins)
        except (CaptureRefused, CaptureFailed) as exc:
            outcome.reasons.append(f"media of {url} not downloaded: {exc}")
            continue
        _fetch_one(url, dest / f"{number:03d}", limits, outcome, seen, proxy)


def _fetch_one(url: str, folder: Path, limits: MediaLimits, outcome: MediaOutcome,
               seen: set[str], proxy: RecordingProxy | None) -> None:
    import yt_dlp
    from yt_dlp.utils import DownloadError, match_filter_func

    folder.mkdir(parents=True, exist_ok=True)
    logger = _Log()
    room = limits.max_items - outcome.count
    params: dict[str, Any] = {
        # Entries of a playlist (a page with several videos) are told apart by their index.
        "outtmpl": {"default": str(folder / "%(playlist_index&{}-|)s%(id).80B.%(ext)s")},
        "format": limits.format,
        "merge_output_format": "mkv",
        "noplaylist": True,
        # A URL yt-dlp reads as a playlist yields at most the items there is room for.
        "playlistend": room,
        "writeinfojson": True,
        "writesubtitles": limits.subtitles,
        "allsubtitles": limits.subtitles,
        "writethumbnail": limits.thumbnails,
        "max_filesize": limits.max_bytes,
        "match_filter": match_filter_func(f"duration <=? {int(limits.max_duration)}"),
        "socket_timeout": limits.socket_timeout,
        "retries": 3,
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "logger": logger,
        "ffmpeg_location": shutil.which("ffmpeg"),
        "cachedir": False,
        "overwrites": True,
    }
    hashes = GrowingFileHashes()
    params["progress_hooks"] = [hashes.hook]
    downloader = yt_dlp.YoutubeDL
    if proxy is not None:
        # Everything through the recording proxy (which chains limits.proxy): yt-dlp's own
        # requests, and ffmpeg's, which yt-dlp points at the same proxy.
        params["proxy"] = proxy.url
        downloader = _trusting(proxy.ca_file)
    elif limits.proxy:
        params["proxy"] = limits.proxy
    if limits.user_agent:
        params["http_headers"] = {"User-Agent": limits.user_agent}
    try:
        with downloader(params) as ydl:
            info = ydl.extract_info(url, download=True)
    except DownloadError as exc:
        hashes.close()
        message = logger.errors[-1] if logger.errors else str(exc)
        if any(marker in message for marker in NO_MEDIA):
            return  # the page has no media yt-dlp knows: nothing to download, not a failure
        outcome.reasons.append(f"media of {url} failed: {message}"[:400])
        return
    hashes.close()
    if info is None:  # refused by the match filter (duration)
        outcome.reasons.append(f"media of {url} not downloaded: longer than "
                               f"{int(limits.max_duration)} s (media.max_duration)")
        return
    playlist = info.get("_type") in ("playlist", "multi_video")
    entries = list(_entries(info))
    if playlist:
        total = info.get("playlist_count") or len(entries)
        if total > room or len(info.get("entries") or []) > len(entries):
            outcome.reasons.append(
                f"media of {url}: {len(entries)} of its items downloaded, not all "
                f"(media.max_items, or longer than media.max_duration)")
    downloaded: list[Path] = []
    fetched: list[str] = []  # the media URLs yt-dlp downloaded (a player's stream matches one)
    for entry in entries:
        for download in entry.get("requested_downloads") or []:
            for fmt in download.get("requested_formats") or [download]:
                if fmt.get("url") and fmt["url"] not in fetched:
                    fetched.append(fmt["url"])
        files = [Path(d["filepath"]) for d in entry.get("requested_downloads") or []
                 if d.get("filepath")]
        if not files or not all(p.is_file() for p in files):
            outcome.reasons.append(
                f"media of {url}{' (' + str(entry.get('id')) + ')' if playlist else ''} not "
                f"downloaded: over {limits.max_bytes} bytes (media.max_bytes) or no file "
                "written")
            continue
        downloaded += files
    if not downloaded:
        return
    item = {"source_url": url, "extractor": info.get("extractor_key") or info.get("extractor"),
            "id": info.get("id"), "title": info.get("title"), "duration": info.get("duration"),
            "uploader": info.get("uploader"), "webpage_url": info.get("webpage_url"),
            "format": info.get("format"), "yt_dlp": yt_dlp.version.__version__,
            "media_urls": fetched, "files": []}
    if playlist:
        item["entries"] = [{key: entry.get(key) for key in (
            "id", "title", "duration", "uploader", "webpage_url", "format", "extractor_key")}
            for entry in entries]
    for path in sorted(folder.iterdir()):
        if path.name.endswith((".part", ".ytdl", ".temp")):
            continue  # an unfinished download is never claimed as a file of the capture
        taken, hashed = taken_digest(path, hashes)
        digest, size = taken.sha256, taken.size
        if digest in seen:
            continue
        seen.add(digest)
        kind = _kind(path, downloaded)
        name = package_name(folder.name, path.name, {f.name for f in outcome.files})
        media = MediaFile(path, name, kind, digest, size, url, taken)
        outcome.files.append(media)
        item["files"].append({"path": media.name, "kind": kind, "sha256": digest,
                              "size": size, "file_name": path.name, "hashed": hashed})
    if item["files"]:
        outcome.items.append(item)


def taken_digest(path: Path, hashes: GrowingFileHashes) -> tuple[FileDigest, str]:
    """The SHA-256, size and CRC-32 of a downloaded file, and when they were taken: while it
    was downloading (``hashes``), else now, in one read (a merge's output, subtitles, the info
    JSON). Either way packaging copies the file by the kernel, not reading it again."""
    taken = hashes.digest(path)
    if taken is not None:
        return taken, "while downloading"
    return file_digest(path), "after downloading"


def package_name(number: str, file_name: str, taken: set[str]) -> str:
    """The path of a downloaded file in the package: ``media/<item number>-<file name>``.

    One folder deep and in ``[A-Za-z0-9._-]`` only: py-wacz's ``wacz validate`` finds files by
    their last two path parts, and the Frictionless schema it checks ``datapackage.json``
    against refuses other characters in a resource name (yt-dlp names files after titles and
    ids, which may hold any character). The name yt-dlp gave is kept in the capture context
    (``file_name``).
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", file_name) or "file"
    stem, dot, suffix = safe.partition(".")
    candidate, n = f"media/{number}-{safe}", 1
    while candidate in taken:  # two names that differed only in replaced characters
        n += 1
        candidate = f"media/{number}-{stem}-{n}{dot}{suffix}"
    return candidate


def _trusting(ca_file: Path) -> type:
    """A YoutubeDL whose request handlers trust the recording proxy's CA, and only it: no
    HTTPS connection of yt-dlp can reach a site without passing through the proxy."""
    import yt_dlp

    class _RecordedYoutubeDL(yt_dlp.YoutubeDL):
        def build_request_director(self, handlers, preferences=None):  # noqa: ANN001, ANN202
            director = super().build_request_director(handlers, preferences)
            for handler in director.handlers.values():
                # yt-dlp offers no CA-file option; its handlers build TLS contexts here.
                handler._make_sslcontext = functools.partial(_proxy_tls_context, ca_file)
            return director

    return _RecordedYoutubeDL


def _proxy_tls_context(ca_file: Path, legacy_ssl_support: bool | None = None
                       ) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, checks host names
    context.load_verify_locations(cafile=str(ca_file))
    context.set_alpn_protocols(["http/1.1"])
    return context


def _entries(info: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The videos of an extraction result: itself, or the entries of a playlist (nested
    playlists flattened; entries the match filter refused are None and left out)."""
    if info.get("_type") not in ("playlist", "multi_video"):
        yield info
        return
    for entry in info.get("entries") or []:
        if entry:
            yield from _entries(entry)


def _kind(path: Path, downloaded: list[Path]) -> str:
    if path in downloaded:
        return "video" if path.suffix.lower() not in (".m4a", ".mp3", ".opus", ".ogg") \
            else "audio"
    if path.name.endswith(".info.json"):
        return "info"
    if path.suffix.lower() in (".vtt", ".srt", ".ass", ".ttml", ".srv3", ".json3"):
        return "subtitle"
    if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"):
        return "thumbnail"
    return "other"

