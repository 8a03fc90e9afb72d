"""The static crawl's Scrapy settings: nothing on every request that a capture does not use."""

from __future__ import annotations

from crawlers.job import CaptureJob, CaptureLimits
from crawlers.netguard import HostGuard
from crawlers.settings import crawl_settings
from isnad.config import CaptureSettings


def _settings(use_browser: bool) -> dict:
    limits = CaptureLimits(**{**CaptureSettings().model_dump(), "depth": 2, "scope": "host",
                              "user_agent": "agent/1"})
    job = CaptureJob(url="http://127.0.0.1:9/", warc=None, limits=limits,  # type: ignore[arg-type]
                     use_browser=use_browser, guard=HostGuard(True))
    return crawl_settings(job, executable_path="/nonexistent", headless=True, log_level="ERROR")


def test_no_statistics_and_no_offsite_filter_in_a_static_crawl() -> None:
    settings = _settings(use_browser=False)
    assert settings["STATS_CLASS"] == "scrapy.statscollectors.DummyStatsCollector"
    assert settings["DOWNLOADER_STATS"] is False
    assert settings["LOGSTATS_INTERVAL"] == 0
    for extension in ("scrapy.extensions.corestats.CoreStats",
                      "scrapy.extensions.logstats.LogStats",
                      "scrapy.extensions.remote_control.RemoteControl",
                      "scrapy.extensions.telnet.TelnetConsole"):
        assert extension not in settings["EXTENSIONS_BASE"]
    middlewares = settings["DOWNLOADER_MIDDLEWARES"]
    assert middlewares["scrapy.downloadermiddlewares.offsite.OffsiteMiddleware"] is None
    # The recording stays next to the downloader (raw bytes, before decompression).
    assert middlewares["crawlers.recording.HttpRecordingMiddleware"] == 950


def test_the_spiders_name_no_allowed_domains() -> None:
    """The offsite filter is left out because no spider restricts domains (the scope is the
    capture's own, crawlers.job): a spider that did would need it back."""
    from crawlers.spiders.page import PageSpider
    from crawlers.spiders.platform import PlatformSpider
    from crawlers.spiders.split import SplitPageSpider

    for spider in (PageSpider, PlatformSpider, SplitPageSpider):
        assert not getattr(spider, "allowed_domains", None), spider


def test_no_spider_callback_is_a_generator_returning_a_value() -> None:
    """Scrapy's per-response check of this is off (WARN_ON_GENERATOR_RETURN_VALUE: it read
    and parsed the callback's source on every response); the check is made here instead, on
    every callback and errback of our spiders."""
    import inspect

    from scrapy.utils.misc import is_generator_with_return_value

    from crawlers.spiders.page import PageSpider
    from crawlers.spiders.platform import PlatformSpider
    from crawlers.spiders.split import SplitPageSpider

    assert _settings(use_browser=False)["WARN_ON_GENERATOR_RETURN_VALUE"] is False
    checked = 0
    for spider in (PageSpider, PlatformSpider, SplitPageSpider):
        for name, method in inspect.getmembers(spider, inspect.isfunction):
            if inspect.isgeneratorfunction(method) and not name.startswith("__"):
                assert not is_generator_with_return_value(method), f"{spider.__name__}.{name}"
                checked += 1
    assert checked >= 2  # parse and follow at least
