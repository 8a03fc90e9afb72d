"""Web app and HTTP API benchmark (issue 15). Prints figures; asserts nothing.

1. A catalog of N captures (default 100,000: URLs on many sites, 50 cases, tags, states,
   some Arabic notes, a stored copy each; rows inserted in bulk, not captured) with every
   COMPLETE or PARTIAL one in the full-text index (`archiver.search.SearchIndex.put_many`, the
   synthetic texts of bench/search_bench.py), on SQLite and/or on PostgreSQL (a throwaway
   server from tests/pgserver.py). A real `isnad serve --workers 0 --no-scheduler` on
   127.0.0.1 serves it; over HTTP, one request at a time: `GET /api/v1/captures` (first page,
   filtered pages, a deep page), `GET /api/v1/captures/{id}`, and the web app's search page
   `/captures?q=WORD` (signed in): p50 / p99 of --requests each.
2. --clients concurrent API clients (default 100), each with a token of its own, each
   submitting --per-client URLs of the fixture site (one `POST /api/v1/submissions` each; no
   worker runs, so only submission is measured): submissions/s, p50 / p99 latency, and none
   lost: the jobs in the catalog and the messages in the queue are exactly the 201 answers;
   every other answer is counted by its status.

The reading token's rate limit is raised for the bench (``ISNAD_WEB__RATE_LIMIT=100000``):
one client making --requests requests a minute is the bench, not an investigator.
The load average (1 min) is printed beside each figure: the machine may be shared.

Usage: ``python bench/web_bench.py [--captures 100000] [--db sqlite|postgresql|both]
[--requests 200] [--search-requests 200] [--clients 100] [--per-client 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx2 as httpx  # noqa: E402 - after the path
from search_bench import RARE_ARABIC, RARE_ENGLISH, documents  # noqa: E402

STATES = ("COMPLETE",) * 8 + ("PARTIAL", "FAILED")
NOTES_AR = ["شهادة شاهد عيان على قصف المستشفى", "تم التحقق من الموقع الجغرافي",
            "نُشر المقطع ثم حُذف بعد ساعة", "مصدر محلي، يحتاج إلى تأكيد"]
NOTES_EN = ["geolocated from the minaret", "posted and deleted within the hour",
            "witness statement, see the case file"]
# The search page's queries: a name (a few dozen matches), a common word (tens of thousands),
# an Arabic word in another spelling than most documents use.
SEARCHES = {"a name": [*RARE_ARABIC[:10:2], *RARE_ENGLISH[1:10:2]],
            "a common word": ["hospital", "قصف", "army", "غزة"],
            "another spelling": ["الادله", "مستشفي", "اسعاف"]}


def capture_id(n: int) -> str:
    """A stable UUID-shaped id for synthetic capture ``n``."""
    return f"{n:08x}-{n % 65536:04x}-7000-8000-{n:012x}"


def fill_catalog(url: str, count: int, batch: int = 5000) -> tuple[float, float]:
    """``count`` captures with a stored copy each into the catalog at ``url`` (made and
    upgraded first), those COMPLETE or PARTIAL also into the search index. Seconds to insert
    the rows, seconds to index them."""
    import sqlalchemy

    from archiver.catalog import CaptureRow, Catalog, CopyRow
    from archiver.schema import upgrade
    from archiver.search import SearchIndex

    upgrade(sqlalchemy.create_engine(url))
    catalog = Catalog(url)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rng = random.Random(15)
    rows_seconds = index_seconds = 0.0
    index = SearchIndex(catalog.engine)
    for first in range(0, count, batch):
        texts = documents(min(batch, count - first), offset=first)
        captures, copies, docs = [], [], []
        for n, doc in zip(range(first, first + len(texts)), texts, strict=True):
            cid = capture_id(n)
            state = STATES[n % len(STATES)]
            key = None if state == "FAILED" else f"captures/{cid}.wacz"
            note = (rng.choice(NOTES_AR) if n % 2 else rng.choice(NOTES_EN)) \
                if n % 10 == 0 else None
            case = f"case-{n % 50}"
            tags = [f"t{n % 7}", "bench"] + (["وثيقة"] if n % 13 == 0 else [])
            captures.append({
                "id": cid, "url": doc.url.replace("example.org", f"site{n % 97}.example.org"),
                "final_url": None, "state": state, "reasons": [], "error": None,
                "case_id": case, "tags": tags, "note": note, "operator": "bench",
                "started_at": start + timedelta(minutes=n),
                "ended_at": start + timedelta(minutes=n, seconds=20),
                "package_key": key, "package_sha256": "0" * 64 if key else None,
                "package_size": 123456 if key else None, "context": {"stats": {}},
                "spool_path": None})
            if key:
                copies.append({"capture_id": cid, "target": "local", "state": "STORED",
                               "key": key, "location": f"/archive/{key}", "sha256": "0" * 64,
                               "size": 123456, "events_stored": 1, "attempts": 1})
                docs.append(dataclasses.replace(
                    doc, ref_id=cid, url=captures[-1]["url"], state=state, case_id=case,
                    tags=tags, notes="\n".join(x for x in (doc.notes, note) if x),
                    captured_at=captures[-1]["started_at"]))
        began = time.perf_counter()
        with catalog.engine.begin() as conn:
            conn.execute(CaptureRow.__table__.insert(), captures)
            conn.execute(CopyRow.__table__.insert(), copies)
        rows_seconds += time.perf_counter() - began
        began = time.perf_counter()
        index.put_many(docs)
        index_seconds += time.perf_counter() - began
        print(f"  ... {first + len(texts):,} captures", end="\r", flush=True)
    if catalog.engine.dialect.name == "postgresql":  # what autovacuum does after a bulk load
        with catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    catalog.engine.dispose()
    return rows_seconds, index_seconds


def percentiles(timings: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``timings`` (seconds), in milliseconds."""
    ordered = sorted(timings)
    return (statistics.median(ordered) * 1000,
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000)


def timed(client: httpx.Client, paths: Callable[[int], str], requests: int
          ) -> tuple[float, float, float, Counter[int]]:
    """GET ``paths(i)`` ``requests`` times, one at a time: p50, p99 (ms), the load average
    when it began, and the statuses answered."""
    load = os.getloadavg()[0]
    client.get(paths(0))  # a first request warms nothing we measure twice: not counted
    timings, statuses = [], Counter[int]()
    for i in range(requests):
        began = time.perf_counter()
        answer = client.get(paths(i))
        answer.read()
        timings.append(time.perf_counter() - began)
        statuses[answer.status_code] += 1
    p50, p99 = percentiles(timings)
    return p50, p99, load, statuses


def measure_reads(server: Any, count: int, requests: int, search_requests: int
                  ) -> list[tuple[str, Any]]:
    """The read figures: (what, (p50, p99, load, statuses)) per kind of request."""
    from urllib.parse import quote

    rng = random.Random(7)
    ids = [capture_id(rng.randrange(count)) for _ in range(requests + 1)]
    deep = max(0, count * 9 // 10)
    rows = []
    with server.client("admin") as api:
        asked: dict[str, Callable[[int], str]] = {
            "API list, first page (50)": lambda i: "/api/v1/captures",
            "API list, state filter (COMPLETE: 80 %)": lambda i: ("/api/v1/captures"
                                                                  "?state=COMPLETE"),
            "API list, case + state filter": lambda i: (f"/api/v1/captures?case=case-{i % 50}"
                                                        "&state=PARTIAL"),
            "API list, tag filter": lambda i: f"/api/v1/captures?tag=t{i % 7}",
            "API list, URL part filter": lambda i: f"/api/v1/captures?url=site{i % 97}.",
            f"API list, deep page (offset {deep:,})": lambda i: f"/api/v1/captures?offset={deep}",
            "API one capture": lambda i: f"/api/v1/captures/{ids[i]}",
        }
        for what, paths in asked.items():
            rows.append((what, timed(api, paths, requests)))
            report_row(*rows[-1])
    page = server.login("admin")  # a signed-in browser's session cookie
    try:
        rows.append(("list page /captures (50, short ids)",
                     timed(page, lambda i: "/captures", requests)))
        report_row(*rows[-1])
        for what, words in SEARCHES.items():
            rows.append((f"search page /captures?q=, {what}",
                         timed(page, lambda i, w=words: f"/captures?q={quote(w[i % len(w)])}",
                               search_requests)))
            report_row(*rows[-1])
    finally:
        page.close()
    return rows


def report_row(what: str, figures: tuple[float, float, float, Counter[int]]) -> None:
    p50, p99, load, statuses = figures
    shown = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
    print(f"  {what:46} {p50:8.1f} {p99:8.1f}   load {load:5.2f}   ({shown})", flush=True)


async def _client(base_url: str, secret: str, urls: list[str], go: asyncio.Event,
                  out: list[tuple[float, int, list[str], str]]) -> None:
    """One API client: its own connection and token, its URLs submitted one after another."""
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as client:
        await go.wait()
        for url in urls:
            began = time.perf_counter()
            try:
                answer = await client.post("/api/v1/submissions", json={
                    "url": url, "case": "case-bench", "tags": ["concurrent"],
                    "note": "ضغط: مئة عميل في آن واحد"})
                status, detail = answer.status_code, answer.text[:200]
                ids = [j["id"] for j in answer.json()["jobs"]] if status == 201 else []
            except httpx.TransportError as exc:  # counted, never dropped
                status, detail, ids = 0, f"{type(exc).__name__}: {exc}", []
            out.append((time.perf_counter() - began, status, ids, detail))


async def _submit_all(base_url: str, secrets: list[str], urls: list[list[str]]
                      ) -> tuple[float, list[tuple[float, int, list[str], str]]]:
    go = asyncio.Event()
    out: list[tuple[float, int, list[str], str]] = []
    tasks = [asyncio.create_task(_client(base_url, s, u, go, out))
             for s, u in zip(secrets, urls, strict=True)]
    await asyncio.sleep(0.5)  # every client ready at the line
    began = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    return time.perf_counter() - began, out


def measure_submissions(server: Any, catalog_url: str, clients: int, per_client: int,
                        site_url: str) -> None:
    """``clients`` API clients at once, ``per_client`` submissions each; then the count."""
    import sqlalchemy

    from archiver.accounts import AccountStore
    from archiver.catalog import Catalog
    from isnad.app.accounts import create_token
    from isnad.app.queue import CaptureQueue
    from isnad.config import load_settings

    catalog = Catalog(catalog_url)
    store = AccountStore(catalog)
    secrets = [create_token(store, server.user("investigator"), ["read", "submit"],
                            name=f"bench-client-{n}").secret for n in range(clients)]
    with catalog.engine.connect() as conn:
        jobs_before = conn.exec_driver_sql("SELECT count(*) FROM jobs").scalar_one()
    urls = [[f"{site_url}/page/{c * per_client + k}" for k in range(per_client)]
            for c in range(clients)]
    load = os.getloadavg()[0]
    seconds, out = asyncio.run(_submit_all(server.base_url, secrets, urls))
    load_after = os.getloadavg()[0]
    accepted = [ids for _, status, ids, _ in out if status == 201]
    answered_ids = {i for ids in accepted for i in ids}
    with catalog.engine.connect() as conn:
        jobs_after = conn.exec_driver_sql("SELECT count(*) FROM jobs").scalar_one()
        found = {r[0] for r in conn.execute(sqlalchemy.text("SELECT id FROM jobs"))}
    catalog.engine.dispose()
    os.environ["ISNAD_HOME"] = str(server.home)
    os.environ["ISNAD_CATALOG__URL"] = catalog_url
    queued = CaptureQueue(load_settings()).pending_ids()
    statuses = Counter(status for _, status, _, _ in out)
    p50, p99 = percentiles([t for t, *_ in out])
    print(f"\n  {clients} clients x {per_client} submissions (one URL each), at once: "
          f"{len(out)} answered in {seconds:.1f} s (load {load:.2f} -> {load_after:.2f})")
    print(f"  throughput {len(accepted) / seconds:,.1f} submissions/s accepted; latency p50 "
          f"{p50:.0f} ms, p99 {p99:.0f} ms")
    print("  answers: " + ", ".join(f"{code or 'no answer'}: {n}"
                                    for code, n in sorted(statuses.items())))
    for _, status, _, detail in out:
        if status != 201:
            print(f"  first refusal ({status}): {detail}")
            break
    new_jobs = jobs_after - jobs_before
    lost = answered_ids - found
    print(f"  none lost: 201 answers {len(accepted)} (jobs named {len(answered_ids)}), new jobs "
          f"in the catalog {new_jobs}, of them in the queue {len(answered_ids & queued)}; "
          + ("OK" if new_jobs == len(answered_ids) == len(accepted) and not lost
             and answered_ids <= queued else f"MISMATCH (not in the catalog: {len(lost)}, "
                                             f"not queued: {len(answered_ids - queued)})"))


def run(db: str, args: argparse.Namespace, site_url: str) -> None:
    """Fill a catalog on ``db``, serve it, measure."""
    from tests.webserver import WebServer

    pg = None
    with tempfile.TemporaryDirectory(prefix="isnad-web-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        if db == "sqlite":
            url = f"sqlite:///{home / 'catalog.db'}"
        else:
            from tests.pgserver import PostgresServer, find_bin_dir

            bin_dir = find_bin_dir()
            if bin_dir is None:
                print("\nPostgreSQL: not installed, skipped")
                return
            pg = PostgresServer(bin_dir).start()
            url = pg.new_database()
        server = None
        try:
            print(f"\n{db}: {args.captures:,} captures", flush=True)
            rows_s, index_s = fill_catalog(url, args.captures)
            print(f"  inserted in {rows_s:.0f} s, indexed for search in {index_s:.0f} s "
                  f"({args.captures / max(index_s, 1e-9):,.0f} captures/s)"
                  f"   load {os.getloadavg()[0]:.2f}", flush=True)
            server = WebServer(home, workers=0, env_extra={
                "ISNAD_CATALOG__URL": url, "ISNAD_WEB__RATE_LIMIT": "100000"}).start()
            print(f"  {'request':46} {'p50 ms':>8} {'p99 ms':>8}   ({args.requests} "
                  f"requests each, {args.search_requests} of a search; one at a time)")
            measure_reads(server, args.captures, args.requests, args.search_requests)
            measure_submissions(server, url, args.clients, args.per_client, site_url)
        finally:
            if server is not None:
                server.stop()
            if pg is not None:
                pg.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--search-requests", type=int, default=200,
                        help="requests of each search row (a common word takes longest)")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--per-client", type=int, default=5)
    args = parser.parse_args()
    from tests.fixture_site import FixtureServer

    print(f"isnad serve --workers 0 --no-scheduler on 127.0.0.1; {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.2f}")
    with FixtureServer(generated_pages=args.clients * args.per_client) as site:
        for db in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
            run(db, args, site.url("").rstrip("/"))


if __name__ == "__main__":
    main()
