"""Capture benchmarks, like for like. Prints figures; asserts nothing (timings vary by machine).

1. Static crawl of a generated site of ``--pages`` pages (each with a stylesheet and an image),
   served by nginx (its own process, its own config in a temp folder) and by the Python fixture
   server (its own process; it shares the cores with the crawler):
   * ``isnad capture --no-browser --depth N --scope host``: process start to a stored,
     verified WACZ (the crawl phase alone is also printed, from the catalog's times);
   * GNU Wget ``--recursive --page-requisites --warc-file`` (one connection: Wget has no
     other), writing a gzipped WARC as Isnad does;
   * plain Scrapy without recording (``bench/plain_scrapy.py``): the same spider logic,
     reactor and parallelism as Isnad's crawl (16 requests at once), nothing written.
2. Browser capture of ``--browser-pages`` pages, ``--browser-concurrency`` at once on every
   side (Isnad's crawl loads 4 pages at once, ``crawlers/settings.py``):
   * ``isnad capture --depth``: scroll, network idle, screenshot, PDF, DOM, WACZ, storage,
     verification;
   * bare Playwright: the same pages, one browser and one context as Isnad's crawl, load +
     full-page screenshot;
   * the same bare Playwright through warcprox (WARC-writing proxy, gzip, SHA-256 digests):
     from warcprox's start to its exit with its WARC written.

Every figure is the median of ``--runs`` runs (tools taken in turn within a round, so each
side sees much the same load), each run printed with the 1-minute load average at its start.
No run prints a ``--json`` result inside its timing. Every process is timed from its start, with
Python's bytecode cache on (as an installed Isnad runs; ``PYTHONDONTWRITEBYTECODE`` is dropped
and the sources compiled once before the first run).

Usage: ``python bench/capture_bench.py [--pages 2000] [--browser-pages 40] [--runs 3]
[--servers nginx,python] [--parts static,browser] [--warcprox PATH|none]``
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import gzip
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# Loopback, but not 127.0.0.1: warcprox refuses to fetch from 127.0.0.1 and ::1 (and has no
# option to allow it); any 127/8 address is this machine's loopback on Linux.
NGINX_HOST = "127.0.0.2"
ISNAD_BROWSER_CONCURRENCY = 4  # CONCURRENT_REQUESTS of a browser crawl, crawlers/settings.py


class BenchError(Exception):
    """A run that cannot give a figure; its message is one line a reader can act on."""


@dataclass
class Figure:
    """One timed run."""

    tool: str
    pages: int
    seconds: float
    load: float  # 1-minute load average at the run's start
    note: str = ""
    cpu: float = 0.0  # CPU seconds (user + system) of the run's processes, load-independent

    @property
    def rate(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


# -- environment ---------------------------------------------------------------------------------
CODE = ROOT  # the Isnad checkout measured (--code)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of every measured process: bytecode cache on, as an install runs."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = f"{CODE}:{ROOT}" if CODE != ROOT else str(ROOT)
    env.update(extra)
    return env


def isnad_env(home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return clean_env(ISNAD_HOME=str(home), ISNAD_ALLOW_PRIVATE_NETWORKS="true", **extra)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30,
                  host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        time.sleep(0.05)
    raise BenchError(f"{what} did not listen on {port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """End a process this script started (its own session: its children too)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# -- the sites -----------------------------------------------------------------------------------
@contextlib.contextmanager
def python_site(pages: int, work: Path) -> Iterator[str]:
    """The fixture site (tests/fixture_site) in a process of its own; its base URL."""
    port = free_port()
    log = open(work / "python-site.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "tests.fixture_site.server", "--port",
                             str(port), "--pages", str(pages)], cwd=ROOT, env=clean_env(),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, proc, "the fixture server")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        log.close()


def site_paths(pages: int) -> list[str]:
    """Every path of the generated site: its pages, their stylesheet and images."""
    from tests.fixture_site.server import generated_page

    paths = {f"/generated/{n}.html" for n in range(pages)}
    for n in range(pages):
        html = generated_page(n, pages).decode()
        for attr in ('src="', 'href="'):
            for part in html.split(attr)[1:]:
                target = part.split('"', 1)[0]
                if target.startswith("/") and not target.startswith("/generated/"):
                    paths.add(target)
    return sorted(paths)


@contextlib.contextmanager
def nginx_site(pages: int, work: Path) -> Iterator[str]:
    """The same generated site as static files served by nginx (a child process with its own
    prefix, config and logs in the bench's folder; no system service); its base URL."""
    if not os.path.exists(NGINX):
        raise BenchError("nginx is not installed (Debian: apt-get install nginx)")
    prefix = work / "nginx"
    root = prefix / "html"
    # nginx started by root serves as "nobody": the folders on the way must be readable.
    os.chmod(work, 0o755)
    # The files are the fixture server's own answers, fetched once from a private instance.
    with python_site(pages, work) as base:
        pending = site_paths(pages)
        while pending:
            path = pending.pop()
            try:
                with urllib.request.urlopen(base + path, timeout=30) as answer:  # noqa: S310
                    body = answer.read()
            except urllib.error.HTTPError:  # missing there too: nginx answers 404 as well
                continue
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            if path.endswith(".css"):  # what a stylesheet loads (Wget follows it)
                pending += [ref for ref in re.findall(r"url\(['\"]?(/[^'\")]+)", body.decode())
                            if not (root / ref.lstrip("/")).exists()]
    port = free_port(NGINX_HOST)
    for name in ("tmp", "logs"):
        (prefix / name).mkdir(parents=True, exist_ok=True)
    temp_paths = "".join(f"{kind}_temp_path {prefix}/tmp/{kind};\n  " for kind in (
        "client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(f"""
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  {temp_paths}access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 100000; keepalive_timeout 60;
  types {{ text/html html; text/css css; image/png png; }}
  default_type application/octet-stream;
  server {{ listen {NGINX_HOST}:{port}; root {root}; }}
}}
""")
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                             "-e", str(prefix / "logs" / "error.log"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for_port(port, proc, "nginx", host=NGINX_HOST)
        yield f"http://{NGINX_HOST}:{port}"
    finally:
        stop(proc, signal.SIGQUIT)  # graceful shutdown


SITES: dict[str, Callable[[int, Path], contextlib.AbstractContextManager[str]]] = {
    "nginx": nginx_site, "python": python_site}


# -- measuring -----------------------------------------------------------------------------------
def cpu_of_children() -> float:
    """CPU seconds used so far by the processes this one started and waited for (and theirs,
    as each waited for its own): a run's share, whatever else loads the machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


LAST_CPU = [0.0]  # CPU seconds of the last timed() run


def timed(cmd: list[str], *, env: dict[str, str], cwd: Path, log: Path, timeout: float
          ) -> float:
    """Seconds from the start of ``cmd`` to its exit; its output goes to ``log``; its CPU
    seconds in LAST_CPU."""
    cpu = cpu_of_children()
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(proc, signal.SIGKILL)
            raise BenchError(f"{' '.join(cmd[:4])} ... took over {timeout:.0f} s; see {log}"
                             ) from None
    seconds = time.perf_counter() - started
    LAST_CPU[0] = cpu_of_children() - cpu
    if proc.returncode not in (0, 1):  # isnad: 1 is a PARTIAL capture, still a figure
        raise BenchError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}: {_tail(log)}")
    return seconds


def _tail(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def catalog_capture(home: Path) -> tuple[str, int, float, list[str], bool]:
    """The home's one capture: (state with its first reason, pages, crawl seconds, page URLs,
    stored copy)."""
    with contextlib.closing(sqlite3.connect(home / "catalog.db")) as db:
        row = db.execute("SELECT id, state, started_at, ended_at, reasons FROM captures"
                         ).fetchone()
        if row is None:
            raise BenchError(f"no capture in {home}")
        cid, state, started, ended, reasons = row
        if state != "COMPLETE":
            state += f" ({(json.loads(reasons or '[]') or ['?'])[0][:120]})"
        urls = [u for (u,) in db.execute(
            "SELECT url FROM pages WHERE capture_id = ? ORDER BY seq", (cid,))]
        stored = db.execute("SELECT count(*) FROM copies WHERE capture_id = ? "
                            "AND state = 'STORED'", (cid,)).fetchone()[0] > 0
    from datetime import datetime

    crawl = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    return state, len(urls), crawl, urls, stored


def run_isnad(label: str, args: list[str], work: Path, env: dict[str, str], timeout: float
              ) -> tuple[Figure, float, list[str]]:
    home = work / label
    if home.exists():
        shutil.rmtree(home)
    env = isnad_env(home, **env)
    load = os.getloadavg()[0]
    seconds = timed([sys.executable, "-m", "isnad.cli", "capture", *args], env=env, cwd=home,
                    log=work / f"{label}.log", timeout=timeout)
    state, pages, crawl, urls, stored = catalog_capture(home)
    note = state + ("" if stored else ", NOT STORED")
    shutil.rmtree(home / "packages", ignore_errors=True)  # keep the temp folder small
    return Figure("isnad", pages, seconds, load, note, LAST_CPU[0]), crawl, urls


# -- 1. static crawl -----------------------------------------------------------------------------
def isnad_static(seed: str, pages: int, work: Path, run: int, timeout: float) -> Figure:
    figure, crawl, _ = run_isnad(
        f"isnad-static-{run}", ["--no-browser", "--depth", str(pages), "--scope", "host", seed],
        work, {"ISNAD_CAPTURE__MAX_PAGES": str(pages), "ISNAD_CAPTURE__MAX_RESOURCES": "100000",
               "ISNAD_CAPTURE__TOTAL_TIMEOUT": str(int(timeout))}, timeout)
    figure.note += f"; crawl phase {crawl:.1f} s = {figure.pages / crawl:.0f} pages/s"
    return figure


def wget_static(seed: str, pages: int, work: Path, run: int, timeout: float) -> Figure:
    out = work / f"wget-{run}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    load = os.getloadavg()[0]
    seconds = timed(["wget", "--recursive", "--level=inf", "--page-requisites", "--no-parent",
                     "-e", "robots=off", "--no-verbose", "--warc-file", str(out / "site"),
                     "--directory-prefix", str(out / "files"), seed],
                    env=clean_env(), cwd=out, log=work / f"wget-{run}.log", timeout=timeout)
    count = 0
    with gzip.open(out / "site.warc.gz", "rb") as fh:  # its HTML responses
        for line in fh:
            if line.startswith(b"Content-Type: text/html"):
                count += 1
    shutil.rmtree(out, ignore_errors=True)
    return Figure("wget", count, seconds, load, cpu=LAST_CPU[0])


def scrapy_static(seed: str, pages: int, work: Path, run: int, timeout: float) -> Figure:
    log = work / f"scrapy-{run}.log"
    load = os.getloadavg()[0]
    seconds = timed([sys.executable, str(ROOT / "bench" / "plain_scrapy.py"), seed, "--pages",
                     str(pages), "--concurrency", "16"],
                    env=clean_env(), cwd=work, log=log, timeout=timeout)
    return Figure("plain scrapy", int(_tail(log)), seconds, load, cpu=LAST_CPU[0])


STATIC_TOOLS = (isnad_static, wget_static, scrapy_static)


def static_crawl(base: str, server: str, args: argparse.Namespace, work: Path) -> None:
    seed = f"{base}/generated/0.html"
    figures: dict[str, list[Figure]] = {}
    for run in range(args.runs):
        for tool in STATIC_TOOLS:
            figure = tool(seed, args.pages, work, run, args.timeout)
            figures.setdefault(figure.tool, []).append(figure)
            print(f"static {server:6} {figure.tool:13} run {run + 1}: {figure.pages} pages in "
                  f"{figure.seconds:6.2f} s = {figure.rate:6.1f} pages/s, {figure.cpu:5.1f} "
                  f"CPU s  (load "
                  f"{figure.load:.1f}){'  ' + figure.note if figure.note else ''}")
    summary("static", server, figures, "wget", "pages/s")


def summary(part: str, server: str, figures: dict[str, list[Figure]], reference: str,
            unit: str) -> None:
    """Medians of each tool, and each tool's median as a multiple of the reference's."""
    scale = 60 if unit == "pages/min" else 1
    medians = {tool: statistics.median(f.rate for f in runs) * scale
               for tool, runs in figures.items()}
    loads = [f.load for runs in figures.values() for f in runs]
    for tool, rate in medians.items():
        ratio = f"{rate / medians[reference]:.2f}x {reference}" if reference in medians else ""
        runs = ", ".join(f"{f.rate * scale:.1f}" for f in figures[tool])
        cpu = statistics.median(f.cpu for f in figures[tool])
        cpu_ratio = (f"{cpu / statistics.median(f.cpu for f in figures[reference]):.2f}x"
                     if reference in figures and figures[reference][0].cpu else "-")
        print(f"{part} {server:6} MEDIAN {tool:17} {rate:7.1f} {unit}  {ratio:14} "
              f"{cpu:6.1f} CPU s ({cpu_ratio} {reference}'s)  "
              f"(runs: {runs}; load {min(loads):.1f}-{max(loads):.1f})")


# -- 2. browser capture --------------------------------------------------------------------------
async def bare_playwright(urls: list[str], concurrency: int, proxy: str | None) -> None:
    """Load + full-page screenshot of every URL, ``concurrency`` pages at once in one context
    (as Isnad's crawl), in the Chromium Isnad uses with its flags and viewport."""
    from playwright.async_api import async_playwright

    from crawlers.settings import CHROMIUM_ARGS
    from isnad.config import Settings

    settings = Settings()
    flags = list(CHROMIUM_ARGS)
    if proxy:  # loopback too: Chromium bypasses a proxy for it unless told otherwise
        flags += [f"--proxy-server={proxy}", "--proxy-bypass-list=<-loopback>"]
    # Chromium's network-time query (a Google host) would go out through the proxy; nothing
    # in the bench may name a real host.
    flags = [f.replace("--disable-features=", "--disable-features=NetworkTimeServiceQuerying,")
             for f in flags]
    pending = iter(urls)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=settings.browser.executable_path,
                                           headless=True, args=flags)
        context = await browser.new_context(viewport={
            "width": settings.capture.viewport_width,
            "height": settings.capture.viewport_height})

        async def lane() -> None:
            for url in pending:  # the lanes share one iterator: each URL is taken once
                page = await context.new_page()
                await page.goto(url, wait_until="load")
                await page.screenshot(full_page=True, type="png")
                await page.close()

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        await browser.close()


def run_bare(urls: list[str], work: Path, label: str, concurrency: int, timeout: float,
             proxy: str | None = None) -> float:
    listing = work / f"{label}-urls.txt"
    listing.write_text("".join(f"{url}\n" for url in urls))
    home = work / f"home-{label}"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--bare-playwright", str(listing),
           "--browser-concurrency", str(concurrency)]
    if proxy:
        cmd += ["--proxy", proxy]
    return timed(cmd, env=isnad_env(home), cwd=home, log=work / f"{label}.log",
                 timeout=timeout)


def warcprox_command(args: argparse.Namespace, work: Path) -> str:
    """warcprox, installed into a virtualenv of its own under the bench's folder unless given:
    it pins cryptography<46, which Isnad's pins exclude, so it cannot share Isnad's."""
    if args.warcprox:
        return args.warcprox
    venv = work / "warcprox-venv"
    print("installing warcprox into a separate virtualenv (pip) ...", flush=True)
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True)
    if made.returncode == 0:
        made = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "warcprox"],
                              capture_output=True, text=True)
    if made.returncode:
        raise BenchError("warcprox could not be installed: "
                         f"{(made.stderr or b'').strip().splitlines()[-1:]}")
    return str(venv / "bin" / "warcprox")


def run_warcprox(command: str, urls: list[str], work: Path, run: int, concurrency: int,
                 timeout: float) -> Figure:
    """warcprox started, the pages loaded through it, warcprox stopped (its WARC closed)."""
    folder = work / f"warcprox-{run}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    port = free_port()
    load = os.getloadavg()[0]
    cpu = cpu_of_children()
    started = time.perf_counter()
    with open(work / f"warcprox-{run}.log", "wb") as log:
        proc = subprocess.Popen(
            [command, "-b", "127.0.0.1", "-p", str(port), "-d", str(folder / "warcs"), "-z",
             "-g", "sha256", "-j", "/dev/null", "--stats-db-file", "/dev/null",
             "-c", str(folder / "ca.pem"), "--certs-dir", str(folder / "certs"), "-q"],
            cwd=folder, env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            wait_for_port(port, proc, "warcprox", timeout=120)
            run_bare(urls, work, f"warcprox-bare-{run}", concurrency, timeout,
                     proxy=f"http://127.0.0.1:{port}")
        finally:
            stop(proc, signal.SIGTERM, timeout=120)
    seconds = time.perf_counter() - started
    cpu = cpu_of_children() - cpu  # warcprox's and the browser's
    warcs = list((folder / "warcs").glob("*.warc.gz"))
    responses = 0
    for warc in warcs:
        with gzip.open(warc, "rb") as fh:
            responses += sum(1 for line in fh if line.startswith(b"WARC-Type: response"))
    shutil.rmtree(folder, ignore_errors=True)
    return Figure("warcprox+playwright", len(urls), seconds, load,
                  f"{responses} responses in {len(warcs)} WARC(s)", cpu)


def browser_capture(base: str, server: str, args: argparse.Namespace, work: Path) -> None:
    seed = f"{base}/generated/0.html"
    figures: dict[str, list[Figure]] = {}
    warcprox = None
    try:
        if args.warcprox != "none":
            warcprox = warcprox_command(args, work)
    except BenchError as exc:
        print(f"browser warcprox: no figure: {exc}")
    concurrency = args.browser_concurrency
    for run in range(args.runs):
        isnad, _, urls = run_isnad(
            f"isnad-browser-{run}",
            ["--depth", str(args.browser_pages), "--scope", "host", seed], work,
            {"ISNAD_CAPTURE__MAX_PAGES": str(args.browser_pages),
             "ISNAD_CAPTURE__TOTAL_TIMEOUT": str(int(args.timeout))}, args.timeout)
        load = os.getloadavg()[0]
        bare = Figure("bare playwright", len(urls),
                      run_bare(urls, work, f"bare-{run}", concurrency, args.timeout), load,
                      cpu=LAST_CPU[0])
        done = [isnad, bare]
        if warcprox:
            done.append(run_warcprox(warcprox, urls, work, run, concurrency, args.timeout))
        for figure in done:
            figures.setdefault(figure.tool, []).append(figure)
            print(f"browser {server:6} {figure.tool:19} run {run + 1}: {figure.pages} pages in "
                  f"{figure.seconds:6.2f} s = {figure.rate * 60:6.1f} pages/min, {figure.cpu:5.1f} "
                  f"CPU s  (load "
                  f"{figure.load:.1f}){'  ' + figure.note if figure.note else ''}")
    summary("browser", server, figures, "bare playwright", "pages/min")
    if "isnad" in figures:
        isnad = statistics.median(f.seconds for f in figures["isnad"])
        bare = statistics.median(f.seconds for f in figures["bare playwright"])
        print(f"browser {server:6} isnad takes {isnad / bare:.2f}x the time of bare Playwright "
              f"({(1 - bare / isnad) * 100:.0f} % slower, target <= 10 %), {concurrency} pages "
              f"at once on both sides")


# -- main ----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--browser-pages", type=int, default=40)
    parser.add_argument("--browser-concurrency", type=int, default=ISNAD_BROWSER_CONCURRENCY)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--servers", default="nginx,python")
    parser.add_argument("--parts", default="static,browser")
    parser.add_argument("--warcprox", help="a warcprox executable (default: pip-installed "
                        "into a virtualenv in the bench's temp folder); none: no warcprox run")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--code", type=Path, default=ROOT, help="the Isnad checkout whose "
                        "`isnad capture` is measured (e.g. the code before a change: "
                        "git archive it into a folder), with this one's virtualenv")
    parser.add_argument("--bare-playwright", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--proxy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    global CODE  # noqa: PLW0603 - one setting for every process this script starts
    CODE = args.code.resolve()
    if args.bare_playwright:  # the bare Playwright side, in a process of its own
        asyncio.run(bare_playwright(args.bare_playwright.read_text().split(),
                                    args.browser_concurrency, args.proxy))
        return
    if not shutil.which("wget"):
        raise SystemExit("GNU Wget is needed: apt-get install wget")
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if unknown := set(servers) - set(SITES):
        parser.error(f"--servers: unknown {', '.join(sorted(unknown))}")
    # As installed: modules compiled once, not at every process start.
    for folder in ("archiver", "crawlers", "isnad"):
        compileall.compile_dir(CODE / folder, quiet=1)
    for folder in ("tests/fixture_site", "bench"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="isnad-capture-bench-") as tmp:
        work = Path(tmp)
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
              f"{args.pages} generated pages; medians of {args.runs} runs; code: {CODE}")
        for server in servers:
            try:
                with SITES[server](args.pages, work) as base:
                    if "static" in parts:
                        static_crawl(base, server, args, work)
                    # The browser part once, on the first server (nginx unless told).
                    if "browser" in parts and server == servers[0]:
                        browser_capture(base, server, args, work)
            except BenchError as exc:
                print(f"{server}: no figure: {exc}")
                failures += 1
    if failures:
        sys.exit(f"{failures} part(s) gave no figure (see above)")


if __name__ == "__main__":
    main()
