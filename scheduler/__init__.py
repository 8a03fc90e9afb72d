"""Schedules: the service that fires housekeeping and (next) monitor runs on time.

It enqueues work and runs the archive's housekeeping; it never crawls (no Scrapy, Playwright or
``crawlers`` here). ``service`` wraps APScheduler 3 with its job store in the catalog;
``state`` keeps in the catalog what must hold across restarts and schedulers: one run per tick
(``RunLedger``), backoff and flagging after failures (``FailureRecord``), and spacing between
runs against one host (``HostSpacing``); ``durations`` reads "15m" / "1d".
"""
