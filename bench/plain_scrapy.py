"""Plain Scrapy, no recording: the reference for Isnad's static crawl in bench/capture_bench.py.

Crawls a generated site the way ``isnad capture --no-browser --depth`` does (the same links in
scope, the same page requisites asked for, the same cap on pages, the same parallelism and
reactor), and writes nothing: no WARC, no package. What Scrapy itself costs per page, so the
benchmark can tell Scrapy's ceiling from what Isnad adds. Prints the number of pages crawled.

Usage: ``python bench/plain_scrapy.py URL [--pages 2000] [--concurrency 16]``
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Request, Response
from scrapy.linkextractors import LinkExtractor

# Isnad's own selector of page requisites (crawlers/spiders/page.py).
REQUISITES = ("img::attr(src), script::attr(src), link[rel~=stylesheet]::attr(href), "
              "link[rel~=icon]::attr(href), video::attr(poster), source::attr(src)")


class PlainSpider(scrapy.Spider):
    """Follows links on the seed's host and asks for each page's requisites, up to a cap."""

    name = "plain"

    def __init__(self, seed: str, pages: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.cap = pages
        self.seen = {seed}
        self.pages = 0
        self.netloc = urlsplit(seed).netloc
        self.links = LinkExtractor(deny_extensions=[], unique=True)

    async def start(self):  # noqa: ANN201 - Scrapy's async generator
        yield Request(self.seed, callback=self.parse)

    def parse(self, response: Response) -> Iterator[Request]:
        self.pages += 1
        for url in response.css(REQUISITES).getall():
            yield Request(response.urljoin(url), callback=self.requisite)
        for link in self.links.extract_links(response):
            if urlsplit(link.url).netloc != self.netloc:  # Isnad's --scope host
                continue
            if link.url in self.seen:
                continue
            if len(self.seen) >= self.cap:
                return
            self.seen.add(link.url)
            yield Request(link.url, callback=self.parse)

    def requisite(self, response: Response) -> None:
        """Fetched, nothing to parse."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    process = CrawlerProcess({
        # Isnad's reactor and parallelism (crawlers/settings.py), Scrapy's defaults otherwise.
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "CONCURRENT_REQUESTS": args.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": args.concurrency,
        "CONCURRENT_ITEMS": 4,
        "ROBOTSTXT_OBEY": False,
        "RETRY_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "ERROR",
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    })
    crawler = process.create_crawler(PlainSpider)
    process.crawl(crawler, seed=args.url, pages=args.pages)
    process.start()
    print(crawler.spider.pages)


if __name__ == "__main__":
    main()
