"""Isnad's evidence layer: WARC writing and reading, packages, custody, storage, catalog.

Usable on its own as a library: nothing here imports Scrapy, Playwright or APScheduler.
"""
