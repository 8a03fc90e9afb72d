"""Isnad's settings: one typed object.

Loaded, highest priority first, from: environment variables ``ISNAD_<SECTION>__<KEY>`` (and
``ISNAD_HOME``, ``ISNAD_ALLOW_PRIVATE_NETWORKS``), the TOML file (``--config FILE`` or
``config/isnad.toml``), then the defaults below. ``config/isnad.example.toml`` documents each.
"""

from __future__ import annotations

import json
import os
import re
import socket
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, get_origin
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from archiver.errors import IsnadError
from crawlers.netguard import normalise_origins

DEFAULT_CONFIG = Path("config/isnad.toml")

# Upper bounds: far beyond any sensible use, but finite, so a typo (or 1e309, which is
# infinity) cannot make a capture wait forever or a limit mean nothing.
DAY = 24 * 3600.0
WEEK = 7 * DAY
TIB = 1024**4
S3_PUT_MIB = 5 * 1024  # S3 takes at most 5 GiB in one PUT or one part


class _Section(BaseModel):
    """A settings section: an unknown key is an error, never silently ignored.

    Numbers must be finite: ``inf`` and ``nan`` are refused like any out-of-range value.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class CaptureSettings(_Section):
    """How a capture runs and where it stops."""

    page_timeout: float = Field(30.0, gt=0, le=DAY, description="seconds to load one page")
    total_timeout: float = Field(300.0, gt=0, le=WEEK, description="seconds for a whole capture")
    max_bytes: int = Field(2 * 1024**3, gt=0, le=TIB,
                           description="payload bytes recorded per capture")
    max_resources: int = Field(5000, gt=0, le=10**7,
                               description="HTTP exchanges recorded per capture")
    max_pages: int = Field(100, gt=0, le=10**6, description="pages per capture (with --depth)")
    depth: int = Field(0, ge=0, le=100, description="link depth followed from the URL")
    processes: int = Field(1, ge=1, le=32, description="processes that read the pages of one "
                           "crawl together (with --depth; isnad/app/sitesplit.py)")
    scope: Literal["page", "host", "domain"] = "page"
    scroll_step_px: int = Field(800, gt=0, le=100_000)
    scroll_max_steps: int = Field(400, gt=0, le=100_000,
                                  description="bound on scroll steps per page")
    scroll_max_height: int = Field(
        100_000, ge=0, le=10_000_000,
        description="px scrolled at most per page (a feed that grows forever); 0: no bound")
    scroll_timeout: float = Field(60.0, ge=0, le=DAY,
                                  description="seconds of scrolling per page; 0: no bound")
    scroll_pause: float = Field(0.25, ge=0, le=60, description="seconds between scroll steps")
    network_idle_timeout: float = Field(10.0, ge=0, le=DAY,
                                        description="seconds to wait for quiet")
    drain_timeout: float = Field(
        10.0, ge=0, le=DAY,
        description="seconds to let responses still arriving finish before a page closes")
    viewport_width: int = Field(1366, gt=0, le=16384)
    viewport_height: int = Field(768, gt=0, le=16384)
    user_agent: str | None = Field(
        None, description="None: desktop Chrome's agent of the installed Chromium version")
    screenshot: bool = True
    pdf: bool = True
    paper: Literal["A4", "A3", "A5", "Letter", "Legal", "Tabloid"] = Field(
        "A4", description="paper size of the page PDF and of the export report")


class BrowserSettings(_Section):
    executable_path: str = "/usr/bin/chromium"
    headless: bool = True
    extra_args: list[str] = Field(default_factory=list, description="more Chromium flags")


def _blank_is_none(value: Any) -> Any:
    """An empty string in the TOML file or the environment means "not set"."""
    return None if value == "" else value


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def _proxy_url(value: Any) -> Any:
    """A proxy is a URL with a scheme Isnad's three clients all speak, a host and a port."""
    value = _blank_is_none(value)
    if value is None:
        return None
    parts = urlsplit(str(value))
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname or port is None:
        # The value is shown without its password: this message goes to logs and terminals.
        shown = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", str(value))
        raise ValueError(f"{shown!r} is not a proxy URL: expected "
                         f"{'|'.join(PROXY_SCHEMES)}://[user:password@]host:port")
    return str(value)


class StorageTarget(_Section):
    """One place packages are kept: a folder, or an S3-compatible bucket."""

    name: str = Field("local", pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = Field(..., description="folder, file:// URL, or s3://bucket/prefix")
    endpoint_url: str | None = Field(None, description="S3 endpoint; None: AWS")
    region: str | None = None
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] | None = None
    retention_days: int = Field(0, ge=0, le=36_500)
    legal_hold: bool = False
    verify: Literal["checksum", "readback"] = "checksum"
    multipart_threshold_mib: int = Field(16, ge=5, le=S3_PUT_MIB)
    part_size_mib: int = Field(8, ge=5, le=S3_PUT_MIB)
    upload_threads: int = Field(8, ge=1, le=32, description="parts sent at once")

    _blank = field_validator("endpoint_url", "region", "object_lock_mode", mode="before")(
        _blank_is_none)

    def options(self) -> dict[str, Any]:
        """Keyword options for archiver.storage.open_storage (S3 targets only)."""
        if not self.url.startswith("s3://"):
            return {}
        return {
            "endpoint_url": self.endpoint_url, "region": self.region,
            "object_lock_mode": self.object_lock_mode, "retention_days": self.retention_days,
            "legal_hold": self.legal_hold, "verify": self.verify,
            "multipart_threshold": self.multipart_threshold_mib * 1024 * 1024,
            "part_size": self.part_size_mib * 1024 * 1024,
            "upload_threads": self.upload_threads,
        }


class StorageSettings(_Section):
    """The single storage target (``url`` and the S3 options below), or several (``targets``)."""

    url: str | None = Field(None, description="folder, file:// or s3://; default HOME/packages")
    endpoint_url: str | None = None
    region: str | None = None
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] | None = None
    retention_days: int = Field(0, ge=0, le=36_500)
    legal_hold: bool = False
    verify: Literal["checksum", "readback"] = "checksum"
    multipart_threshold_mib: int = Field(16, ge=5, le=S3_PUT_MIB)
    part_size_mib: int = Field(8, ge=5, le=S3_PUT_MIB)
    upload_threads: int = Field(8, ge=1, le=32, description="parts sent at once")

    _blank = field_validator("endpoint_url", "region", "object_lock_mode", mode="before")(
        _blank_is_none)
    targets: list[StorageTarget] = Field(default_factory=list,
                                         description="several targets; the first is primary")
    retries: int = Field(3, ge=1, le=100, description="upload attempts per target in a sync")
    backoff: float = Field(0.5, ge=0, le=3600,
                           description="seconds before the 2nd attempt, doubling")
    min_free_bytes: int = Field(100 * 1024**2, ge=0, le=2**60, description="a capture does not "
                                "start when the data folder (or a local target) has less free "
                                "space")


# Sites whose pages are players yt-dlp has an extractor for, though their HTML may show no
# <video> until a script runs (without a browser, never).
MEDIA_HOSTS = (
    "youtube.com", "youtu.be", "youtube-nocookie.com", "vimeo.com", "dailymotion.com",
    "twitch.tv", "kick.com", "rumble.com", "bitchute.com", "odysee.com", "streamable.com",
    "soundcloud.com", "bandcamp.com", "mixcloud.com", "tiktok.com", "instagram.com",
    "facebook.com", "fb.watch", "x.com", "twitter.com", "reddit.com", "v.redd.it", "vk.com",
    "vkvideo.ru", "ok.ru", "rutube.ru", "t.me", "bilibili.com", "archive.org",
)


class MediaSettings(_Section):
    """Media through yt-dlp: of the page URL and of video/audio the page loaded."""

    enabled: bool = True
    max_bytes: int = Field(2 * 1024**3, gt=0, le=TIB, description="per media file")
    max_duration: float = Field(4 * 3600.0, gt=0, le=WEEK, description="seconds per item")
    max_items: int = Field(10, ge=1, le=10_000, description="media items per capture")
    format: str = "bestvideo*+bestaudio/best"
    subtitles: bool = True
    thumbnails: bool = True
    socket_timeout: float = Field(30.0, gt=0, le=DAY)
    proxy: str | None = Field(None, description="http://, https://, socks5:// or socks5h:// "
                              "proxy for yt-dlp; None: the capture's proxy")
    hosts: list[str] = Field(default_factory=lambda: list(MEDIA_HOSTS), description=(
        "known media hosts (and their subdomains): yt-dlp reads a page on one, or embedding "
        "a player from one, even when its HTML shows no <video>/<audio>"))

    _proxy = field_validator("proxy", mode="before")(_proxy_url)


class PlatformSettings(_Section):
    """One platform: where it is, and the session to use for it (logged-in capture)."""

    enabled: bool = True
    base_url: str | None = Field(None, description="API or web base; None: the public one")
    cookies_file: Path | None = Field(None, description="Netscape cookies.txt of a session")
    headers: dict[str, str] = Field(default_factory=dict,
                                    description="extra request headers, e.g. Authorization")
    proxy: str | None = None

    _blank = field_validator("base_url", "cookies_file", mode="before")(_blank_is_none)
    _proxy = field_validator("proxy", mode="before")(_proxy_url)


class PlatformsSettings(_Section):
    posts: int = Field(20, ge=1, le=100_000, description="posts listed from a channel by default")
    proxy: str | None = Field(None, description="proxy for every capture (platform or not) "
                              "whose platform has none of its own")
    telegram: PlatformSettings = PlatformSettings()
    youtube: PlatformSettings = PlatformSettings()
    x: PlatformSettings = PlatformSettings()
    tiktok: PlatformSettings = PlatformSettings()
    facebook: PlatformSettings = PlatformSettings()
    instagram: PlatformSettings = PlatformSettings()
    bluesky: PlatformSettings = PlatformSettings()
    vk: PlatformSettings = PlatformSettings()
    reddit: PlatformSettings = PlatformSettings()
    mastodon: PlatformSettings = PlatformSettings()

    _proxy = field_validator("proxy", mode="before")(_proxy_url)

    def get(self, name: str) -> PlatformSettings:
        return getattr(self, name)


class SigningSettings(_Section):
    """The key that signs every package (``isnad keys init``)."""

    enabled: bool = True
    key_dir: Path | None = Field(None, description="default HOME/keys")
    passphrase: str | None = Field(None, description="set by ISNAD_SIGNING__PASSPHRASE only")
    passphrase_file: Path | None = None
    auto_create: bool = Field(True, description="create an unencrypted key on first capture")
    trusted_keys: list[str] = Field(default_factory=list,
                                    description="more key fingerprints verify accepts")

    _blank = field_validator("passphrase", "key_dir", "passphrase_file", mode="before")(
        _blank_is_none)


class TSASettings(_Section):
    """One RFC 3161 time-stamping authority."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$")
    url: str
    ca_file: Path = Field(..., description="PEM root certificate(s) trusted for this TSA")
    certs_file: Path | None = Field(None, description="PEM TSA certificate and intermediates")
    timeout: float = Field(15.0, gt=0, le=DAY)


class TimestampSettings(_Section):
    tsa: list[TSASettings] = Field(default_factory=list, description="none: no timestamps")
    max_delay_minutes: float = Field(60.0, gt=0, le=WEEK / 60,
                                     description="a token may be this late after the capture")


class LoggingSettings(_Section):
    """Isnad's own log (what the commands print as results is not logging)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "WARNING", description="WARNING: problems only; INFO: each step too; DEBUG (--debug): "
        "everything, the libraries' (Scrapy, asyncio...) too")
    format: Literal["auto", "human", "json"] = Field(
        "auto", description="auto: human lines for commands, JSON lines for workers/services")
    file: Path | None = Field(None, description="also append JSON lines to this file "
                              "(relative: inside the data folder); None: no file")

    _blank = field_validator("file", mode="before")(_blank_is_none)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class CatalogSettings(_Section):
    url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///HOME/catalog.db")


class QueueSettings(_Section):
    url: str | None = Field(None, description="redis://host:6379/0, or sqlite:///PATH; "
                            "default sqlite:///HOME/queue.db (nothing to set up)")
    max_attempts: int = Field(3, ge=1, le=100, description="runs of a job whose worker died, "
                              "at most, before it is given up as failed")


class WorkerSettings(_Section):
    concurrency: int = Field(2, ge=1, le=64, description="captures run at once by a worker "
                             "(and by `isnad capture` when no worker runs)")
    heartbeat: float = Field(5.0, gt=0, le=300, description="seconds between a worker's "
                             "signs of life")
    stale_after: float = Field(60.0, gt=0, le=86_400, description="a worker on another machine "
                               "silent this long is taken for dead, its jobs queued again")
    drain_timeout: float = Field(120.0, ge=0, le=86_400, description="on SIGTERM, seconds "
                                 "given to running captures to finish before they are handed "
                                 "back to the queue")
    host: str | None = Field(None, max_length=255, description="the name this machine (this "
                             "data folder) goes by in the catalog's workers, jobs and captures; "
                             "None: the host name. Keep it the same across restarts (a "
                             "container's host name changes): the worker that comes back "
                             "settles what its machine left unfinished")
    warm_processes: bool = Field(True, description="fork capture processes from a warm "
                                 "process that has imported what a capture needs (saves about "
                                 "a CPU second a job); false: a fresh `python -m "
                                 "isnad.app.child` for each")

    _blank = field_validator("host", mode="before")(_blank_is_none)


def _duration(value: Any) -> Any:
    """A duration setting: seconds, or "30s", "15m", "2h", "1d"; blank: not set."""
    from scheduler.durations import parse_duration

    value = _blank_is_none(value)
    return None if value is None else parse_duration(value)


def _crontab(value: Any) -> Any:
    value = _blank_is_none(value)
    if value is None:
        return None
    from apscheduler.triggers.cron import CronTrigger

    CronTrigger.from_crontab(str(value))  # ValueError names the bad field
    return str(value)


class HousekeepingSchedule(_Section):
    """One housekeeping schedule: every N (seconds, or 30s / 15m / 2h / 1d), or a crontab
    line in UTC (``cron`` wins when both are set)."""

    enabled: bool = True
    every: float | None = Field(None, gt=0, le=366 * DAY, description="interval")
    cron: str | None = Field(None, description='crontab line in UTC, e.g. "0 3 * * *"')

    _every = field_validator("every", mode="before")(_duration)
    _cron = field_validator("cron", mode="before")(_crontab)


class SchedulesSettings(_Section):
    """`isnad scheduler`: the housekeeping schedules, and how every schedule fires."""

    enabled: bool = Field(True, description="false: no housekeeping schedule at all")
    # The two crontab defaults are built unvalidated (model_construct): they are known good,
    # and validating them would import APScheduler in every command at start.
    audit: HousekeepingSchedule = HousekeepingSchedule.model_construct(cron="0 3 * * *")
    audit_sample: int = Field(20, ge=1, le=10**6, description="captures re-hashed per audit")
    timestamps: HousekeepingSchedule = HousekeepingSchedule(every=3600.0)
    sync: HousekeepingSchedule = HousekeepingSchedule(every=900.0)
    anchor: HousekeepingSchedule = HousekeepingSchedule.model_construct(cron="30 3 * * *")
    jitter: float = Field(30.0, ge=0, le=DAY, description="seconds of random spread on each "
                          "tick (at most a tenth of an interval)")
    misfire_grace: float = Field(3600.0, gt=0, le=WEEK, description="a tick missed (scheduler "
                                 "down) still runs, once, if at most this many seconds late")
    threads: int = Field(4, ge=1, le=64, description="schedules run at once")
    lease: float = Field(30.0, ge=1, le=DAY, description="seconds a scheduler's lease lasts "
                         "unless renewed (it is renewed every worker.heartbeat): of several "
                         "schedulers only the holder fires schedules; another takes over "
                         "this long after the holder dies")
    host_spacing: float = Field(10.0, ge=0, le=DAY, description="seconds at least between "
                                "two runs against one host")
    backoff: float = Field(60.0, gt=0, le=DAY, description="seconds of delay after a first "
                           "failure, doubling with each failure in a row")
    backoff_max: float = Field(6 * 3600.0, gt=0, le=WEEK, description="ceiling of the delay")
    flag_after: int = Field(5, ge=1, le=1000, description="failures in a row that flag a "
                            "schedule (shown, alerted) instead of silently retried")


class AlertsSettings(_Section):
    """Monitor alerts: each is a log line (logger ``isnad.alerts``) and, with a webhook, a
    signed JSON POST, delivered by `isnad scheduler` from the catalog's outbox."""

    webhook: str | None = Field(None, description="URL every monitor's alerts are POSTed "
                                "to (a monitor's own --webhook gets them too)")
    # A SecretStr: masked in any dump, so the settings handed to a capture process (which
    # raises alerts, never delivers them) do not carry it.
    secret: SecretStr | None = Field(None, description="HMAC secret signing the webhooks; "
                                     "set by ISNAD_ALERTS__SECRET only, never printed")
    secret_file: Path | None = Field(None, description="or a file holding the secret")
    events: list[Literal["new-posts", "post-disappeared", "post-changed", "monitor-failing",
                         "monitor-recovered"]] = Field(
        default_factory=lambda: ["new-posts", "post-disappeared", "post-changed",
                                 "monitor-failing", "monitor-recovered"],
        description="events sent to webhooks (every alert is logged)")
    retries: int = Field(8, ge=1, le=100, description="attempts per webhook before an alert "
                         "is recorded as failed")
    backoff: float = Field(30.0, ge=0, le=DAY, description="seconds before the 2nd attempt, "
                           "doubling (a 429/503's Retry-After, when longer, wins)")
    backoff_max: float = Field(3600.0, ge=0, le=WEEK, description="ceiling of the delay")
    timeout: float = Field(10.0, gt=0, le=300, description="seconds for one POST")
    poll: float = Field(5.0, gt=0, le=3600, description="seconds between the scheduler's "
                        "looks at the outbox")

    _blank = field_validator("webhook", "secret", "secret_file", mode="before")(_blank_is_none)

    def secret_value(self) -> str | None:
        """The signing secret (from ``secret`` or ``secret_file``), or None."""
        if self.secret is not None:
            return self.secret.get_secret_value()
        if self.secret_file:
            try:
                return self.secret_file.read_text().strip() or None
            except OSError as exc:
                raise IsnadError(f"cannot read alerts.secret_file: {exc.strerror}") from exc
        return None


class WebSettings(_Section):
    """The web app and HTTP API (`isnad serve`, docs/web.md)."""

    session_hours: float = Field(12.0, gt=0, le=24 * 90, description="a login session lasts "
                                 "this long")
    rate_limit: int = Field(120, ge=1, le=100_000, description="requests a minute one API "
                            "token may make (429 with Retry-After past it)")
    default_quota: int | None = Field(None, ge=0, description="captures a day a token made "
                                      "without --quota may submit; None: no limit")
    max_submission_urls: int = Field(1000, ge=1, le=100_000, description="URLs one "
                                     "submission may hold")
    max_upload_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="largest body a "
                                  "request may send (a batch file of URLs)")


class Settings(BaseSettings):
    """Every Isnad setting."""

    model_config = SettingsConfigDict(
        env_prefix="ISNAD_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
        allow_inf_nan=False,
    )

    home: Path = Field(Path("./isnad-data"), description="the data folder")
    allow_private_networks: bool = False
    private_origins: list[str] = Field(
        default_factory=list,
        description="host:port origins on a private network captured with the guard on")
    operator: str | None = Field(None, description="default operator; None: the OS user")
    capture: CaptureSettings = CaptureSettings()
    browser: BrowserSettings = BrowserSettings()
    storage: StorageSettings = StorageSettings()
    media: MediaSettings = MediaSettings()
    platforms: PlatformsSettings = PlatformsSettings()
    signing: SigningSettings = SigningSettings()
    timestamps: TimestampSettings = TimestampSettings()
    logging: LoggingSettings = LoggingSettings()
    catalog: CatalogSettings = CatalogSettings()
    queue: QueueSettings = QueueSettings()
    worker: WorkerSettings = WorkerSettings()
    schedules: SchedulesSettings = SchedulesSettings()
    alerts: AlertsSettings = AlertsSettings()
    web: WebSettings = WebSettings()

    @field_validator("private_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return sorted(normalise_origins(value))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = _TOML_FILE.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    def storage_targets(self) -> list[StorageTarget]:
        """The configured targets; by default one local folder, HOME/packages."""
        if self.storage.targets:
            return list(self.storage.targets)
        url = self.storage.url or str(self.home.resolve() / "packages")
        single = self.storage.model_dump(exclude={"url", "targets", "retries", "backoff",
                                                  "min_free_bytes"})
        return [StorageTarget(name="s3" if url.startswith("s3://") else "local", url=url,
                              **single)]

    def prepare_folders(self) -> None:
        """Create the data folder and every local storage folder, or fail naming the setting.

        Without this a folder that cannot be made (a file in its way, no permission) surfaced as
        a bare ``NotADirectoryError`` from deep inside; only commands that use storage call it.
        """
        folders: list[tuple[Path, str]] = [(self.home, "home (ISNAD_HOME)")]
        if self.catalog.url and self.catalog.url.startswith("sqlite:///"):
            database = Path(self.catalog.url.removeprefix("sqlite:///"))
            folders.append((database.parent, "catalog.url (ISNAD_CATALOG__URL)"))
        if self.storage.targets:
            for i, target in enumerate(self.storage.targets):
                folders.append((target.url, f"storage.targets[{i}].url "
                                "(ISNAD_STORAGE__TARGETS)"))
        elif self.storage.url:
            folders.append((self.storage.url, "storage.url (ISNAD_STORAGE__URL)"))
        else:
            folders.append((self.home / "packages", "home (ISNAD_HOME), which holds packages/"))
        for where, setting in folders:
            folder = _local_folder(where)
            if folder is None:
                continue
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise IsnadError(f"cannot create the folder {folder} named by {setting}: "
                                 f"{reason}" + (f" ({exc.filename})" if exc.filename
                                                and str(exc.filename) != str(folder) else "")
                                 ) from exc

    @property
    def key_dir(self) -> Path:
        return (self.signing.key_dir or self.home / "keys").resolve()

    def signing_passphrase(self) -> str | None:
        if self.signing.passphrase:
            return self.signing.passphrase
        if self.signing.passphrase_file:
            try:
                return self.signing.passphrase_file.read_text().rstrip("\n")
            except OSError as exc:
                raise IsnadError(f"cannot read signing.passphrase_file: {exc}") from exc
        return None

    @property
    def catalog_url(self) -> str:
        return self.catalog.url or f"sqlite:///{self.home.resolve() / 'catalog.db'}"

    def machine(self) -> str:
        """The name this machine goes by in the catalog (``worker.host``, else the host
        name)."""
        return self.worker.host or socket.gethostname()

    def effective_operator(self) -> str:
        if self.operator:
            return self.operator
        try:
            return os.getlogin()
        except OSError:
            import getpass

            return getpass.getuser()


# The TOML file of the `load_settings()` call under way. A context variable set only while that
# call builds its Settings, so a later bare `Settings()` never reads another caller's file.
_TOML_FILE: ContextVar[Path | None] = ContextVar("isnad_toml_file", default=None)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``config_file`` (or ``config/isnad.toml`` when it exists) and env.

    Any invalid value raises one IsnadError line naming each bad setting both ways:
    ``capture.total_timeout (ISNAD_CAPTURE__TOTAL_TIMEOUT)``.
    """
    if config_file is not None and not config_file.is_file():
        raise IsnadError(f"configuration file {config_file} does not exist")
    path = config_file or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    token = _TOML_FILE.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(_describe(err, path) for err in exc.errors())
        raise IsnadError(f"invalid settings: {problems}") from exc
    except SettingsError as exc:  # an environment variable that should hold JSON does not
        raise IsnadError(_unparsable_environment() or f"invalid settings: {exc}") from exc
    except ValueError as exc:  # TOML syntax errors
        raise IsnadError(f"cannot read settings from {path}: {_one_line(exc)}") from exc
    finally:
        _TOML_FILE.reset(token)


def setting_names(loc: tuple[str | int, ...]) -> tuple[str, str]:
    """A setting's dotted name and its environment variable, from a pydantic error location.

    ``("storage", "targets", 0, "url")`` → ``("storage.targets[0].url",
    "ISNAD_STORAGE__TARGETS")``: a list is set as a whole, in JSON.
    """
    dotted = ""
    env_parts: list[str] = []
    in_list = False
    for part in loc:
        if isinstance(part, int):
            dotted += f"[{part}]"
            in_list = True
            continue
        dotted += f".{part}" if dotted else str(part)
        if not in_list:
            env_parts.append(str(part).upper())
    return dotted, "ISNAD_" + "__".join(env_parts)


def _describe(err: Any, path: Path | None) -> str:
    """One bad value: where it came from, what is wrong, and the value when it is harmless."""
    dotted, env = setting_names(tuple(err["loc"]))
    if any(key.upper() == env for key in os.environ):
        source = env
    elif path is not None:
        source = f"{env} or {dotted} in {path}"
    else:
        source = env
    message = err["msg"]
    value = err.get("input")
    # Numbers only: a rejected string may be a secret (a passphrase, a proxy password).
    if isinstance(value, int | float) and not isinstance(value, bool) \
            or isinstance(value, str) and _is_number(value):
        message += f", got {value}"
    return f"{dotted} ({source}): {message}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _unparsable_environment() -> str | None:
    """Name the ISNAD_* variable whose value should be JSON (a list or a table) and is not."""
    for key, value in sorted(os.environ.items()):
        if not key.upper().startswith("ISNAD_"):
            continue
        loc = key[len("ISNAD_"):].lower().split("__")
        if not _is_structured(loc):
            continue
        try:
            json.loads(value)
        except ValueError as exc:
            dotted = ".".join(loc)
            return (f"invalid settings: {dotted} ({key.upper()}): not valid JSON "
                    f"({_one_line(exc)}); expected e.g. "
                    + ('[{"name": "local", "url": "/srv/isnad"}]' if dotted == "storage.targets"
                       else "a JSON list or object"))
    return None


def _is_structured(loc: list[str]) -> bool:
    """Whether the setting at ``loc`` is a list or a table (set as JSON in the environment)."""
    model: Any = Settings
    for i, name in enumerate(loc):
        fields = getattr(model, "model_fields", {})
        if name not in fields:
            return False
        annotation = fields[name].annotation
        if i == len(loc) - 1:
            return get_origin(annotation) in (list, dict) or (
                isinstance(annotation, type) and issubclass(annotation, BaseModel))
        model = annotation
    return False


def _local_folder(where: Path | str) -> Path | None:
    """The folder of a local storage URL (a path or file://), None for s3:// and the like."""
    if isinstance(where, Path):
        return where
    parts = urlsplit(where)
    if parts.scheme == "file":
        return Path(parts.path)
    return Path(where) if not parts.scheme else None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
