"""Capture benchmarks. Prints figures; asserts nothing (timings vary by machine).

1. Static crawl, ~2,000 generated pages with their stylesheet and images:
   ``isnad capture --no-browser --depth ...`` vs GNU Wget ``--recursive --page-requisites
   --warc-file``: pages per second, both writing WARCs of the same site.
2. Browser: ``isnad capture`` in Chromium (scroll, network idle, screenshot, PDF, DOM, WACZ,
   storage, verification) vs bare Playwright (load + full-page screenshot) of the same pages:
   pages per minute.

Usage: ``python bench/capture_bench.py [--pages 2000] [--browser-pages 40]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixture_site import FixtureServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def run_isnad(home: Path, args: list[str], env: dict[str, str]
              ) -> tuple[float, list[dict], float]:
    """Run one capture; return (seconds, pages of the package, seconds of the crawl alone)."""
    home.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "ISNAD_HOME": str(home), "ISNAD_ALLOW_PRIVATE_NETWORKS": "true",
                **env}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "isnad.cli", "capture", "--json", *args],
                          env=full_env, capture_output=True, text=True, cwd=home)
    elapsed = time.perf_counter() - started
    if not proc.stdout.strip():
        raise SystemExit(f"isnad capture failed:\n{proc.stderr}")
    record = json.loads(proc.stdout)[0]
    with zipfile.ZipFile(record["package_location"]) as wacz:
        lines = wacz.read("pages/pages.jsonl").decode().splitlines()[1:]
    context = record["context"]
    crawl = (_parse(context["ended_at"]) - _parse(context["started_at"])).total_seconds()
    return elapsed, [json.loads(line) for line in lines if line.strip()], crawl


def _parse(stamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")


def wget_pages(warc: Path) -> int:
    """HTML responses in Wget's WARC."""
    count = 0
    with gzip.open(warc, "rb") as fh:
        for line in fh:
            if line.startswith(b"Content-Type: text/html"):
                count += 1
    return count


def static_crawl(site: FixtureServer, pages: int, work: Path) -> None:
    seed = site.url("/generated/0.html")
    isnad_s, isnad_pages, crawl_s = run_isnad(
        work / "isnad-static",
        ["--no-browser", "--depth", str(pages), "--scope", "host", seed],
        {"ISNAD_CAPTURE__MAX_PAGES": str(pages), "ISNAD_CAPTURE__MAX_RESOURCES": "100000",
         "ISNAD_CAPTURE__TOTAL_TIMEOUT": "3600"},
    )
    wget_dir = work / "wget"
    wget_dir.mkdir()
    started = time.perf_counter()
    subprocess.run(["wget", "--recursive", "--level=inf", "--page-requisites", "--no-parent",
                    "-e", "robots=off", "--no-verbose", "--warc-file", str(wget_dir / "site"),
                    "--directory-prefix", str(wget_dir / "files"), seed],
                   check=False, capture_output=True)
    wget_s = time.perf_counter() - started
    n_wget = wget_pages(wget_dir / "site.warc.gz")
    rate_isnad, rate_wget = len(isnad_pages) / isnad_s, n_wget / wget_s
    print(f"static crawl  isnad --no-browser: {len(isnad_pages)} pages in {isnad_s:.1f} s "
          f"= {rate_isnad:.1f} pages/s (process start to a stored, verified WACZ)")
    print(f"static crawl  isnad crawl phase:  {crawl_s:.1f} s "
          f"= {len(isnad_pages) / crawl_s:.1f} pages/s (fetch + WARC writing only)")
    print(f"static crawl  wget --warc-file:   {n_wget} pages in {wget_s:.1f} s "
          f"= {rate_wget:.1f} pages/s")
    print(f"static crawl  ratio isnad/wget:   {rate_isnad / rate_wget:.2f}x (target >= 1.5x)")


async def bare_playwright(urls: list[str]) -> float:
    from playwright.async_api import async_playwright

    started = time.perf_counter()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=["--disable-background-networking"])
        context = await browser.new_context(viewport={"width": 1366, "height": 768})
        for url in urls:
            page = await context.new_page()
            await page.goto(url, wait_until="load")
            await page.screenshot(full_page=True, type="png")
            await page.close()
        await browser.close()
    return time.perf_counter() - started


def browser_capture(site: FixtureServer, pages: int, work: Path) -> None:
    seed = site.url("/generated/0.html")
    isnad_s, isnad_pages, _crawl = run_isnad(
        work / "isnad-browser",
        ["--depth", str(pages), "--scope", "host", seed],
        {"ISNAD_CAPTURE__MAX_PAGES": str(pages), "ISNAD_CAPTURE__TOTAL_TIMEOUT": "3600"},
    )
    urls = [p["url"] for p in isnad_pages]
    bare_s = asyncio.run(bare_playwright(urls))
    per_min_isnad, per_min_bare = len(urls) / isnad_s * 60, len(urls) / bare_s * 60
    print(f"browser       isnad capture:      {len(urls)} pages in {isnad_s:.1f} s "
          f"= {per_min_isnad:.0f} pages/min (scroll, idle, screenshot, PDF, DOM, WACZ)")
    print(f"browser       bare Playwright:    {len(urls)} pages in {bare_s:.1f} s "
          f"= {per_min_bare:.0f} pages/min (load + full-page screenshot)")
    slower = (1 - per_min_isnad / per_min_bare) * 100
    print(f"browser       isnad vs bare:      {slower:+.0f}% slower (target <= 15%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--browser-pages", type=int, default=40)
    args = parser.parse_args()
    if not shutil.which("wget"):
        raise SystemExit("GNU Wget is needed: apt-get install wget")
    work = Path(tempfile.mkdtemp(prefix="isnad-bench-"))
    with FixtureServer(generated_pages=args.pages) as site:
        print(f"machine: {os.cpu_count()} cores; site: {args.pages} generated pages at "
              f"{site.base_url}")
        static_crawl(site, args.pages, work)
        browser_capture(site, args.browser_pages, work)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of the largest child process: {peak:.0f} MiB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
