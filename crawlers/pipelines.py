"""Item pipelines: hand the pages a crawl found to the capture job."""

from __future__ import annotations

from scrapy import Spider

from crawlers.spiders.page import PageItem


class CapturePagesPipeline:
    """Collect pages for the package's page list (pages/pages.jsonl)."""

    def process_item(self, item: PageItem, spider: Spider) -> PageItem:
        spider.job.pages.append(dict(item))  # type: ignore[attr-defined]
        return item
