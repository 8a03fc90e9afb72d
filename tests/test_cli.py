"""The `isnad` command as people expect it: help, usage errors, one-line errors, URL checks,
`list` with its filters, capture output (progress, results, summary, --jsonl), --json on every
command that reports, and shell completion. The real CLI runs in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from archiver.catalog import CaptureRow, Catalog, CopyRow
from archiver.states import CaptureState, CopyState

pytestmark = pytest.mark.e2e


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# -- help, version, usage errors ------------------------------------------------------------

def test_version_and_bare_help_exit_0(isnad):
    run = isnad("--version")
    assert run.code == 0 and run.stdout.startswith("isnad "), run
    bare = isnad()
    assert bare.code == 0, bare
    assert "Usage" in bare.stdout and "capture" in bare.stdout
    group = isnad("storage")
    assert group.code == 0 and "sync" in group.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("list", "--lmit", "3"), "No such option: --lmit (Possible options: --limit)"),
    (("lst",), "No such command 'lst'. Did you mean 'list'?"),
    (("show",), "Missing argument 'ID'."),
    (("list", "--state", "DONE"), "Invalid value for '--state'"),
])
def test_usage_errors_are_clicks_own_message(isnad, args, message):
    run = isnad(*args)
    assert run.code == 2, run
    assert f"Error: {message}" in run.stderr, run.stderr
    assert "Try 'isnad" in run.stderr
    for internal in ("NoSuchOption", "UsageError", "MissingParameter", "BadParameter",
                     "Traceback"):
        assert internal not in run.stderr


def test_a_long_error_stays_on_one_line_in_a_log(isnad):
    # stderr is a pipe here: no wrapping at 80 columns, whatever COLUMNS says.
    run = isnad("list", env={"ISNAD_CAPTURE__TOTAL_TIMEOUT": "1e309", "COLUMNS": "80"})
    assert run.code == 2
    (line,) = _error_lines(run.stderr)
    assert len(line) > 80
    assert line.startswith("error: invalid settings: capture.total_timeout "
                           "(ISNAD_CAPTURE__TOTAL_TIMEOUT): Input should be a finite number")


# -- URLs -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "words"), [
    ("not-a-url", "not an http(s) URL: 'not-a-url'"),
    ("ftp://127.0.0.1/file", "not an http(s) URL: 'ftp://127.0.0.1/file'"),
    ("http://[::1", "not a valid URL: 'http://[::1' (Invalid IPv6 URL)"),
    ("http://127.0.0.1:99999/", "not a valid URL"),
    ("example.org/page", "did you mean 'https://example.org/page'?"),
])
def test_a_malformed_url_is_a_usage_error_and_nothing_is_recorded(isnad, url, words):
    run = isnad("capture", "--no-browser", "http://127.0.0.1:9/fine", url)
    assert run.code == 2, run
    assert "Error: Invalid value for 'URL...'" in run.stderr and words in run.stderr, run.stderr
    assert "Traceback" not in run.stderr + run.stdout and "ValueError" not in run.stderr
    # Refused before anything was registered: not even the well-formed URL beside it.
    assert isnad("list", "--json").json() == []


def test_a_well_formed_url_that_fails_is_still_recorded(isnad):
    port = _closed_port()
    run = isnad("capture", "--no-browser", f"http://127.0.0.1:{port}/")
    assert run.code == 2
    (record,) = isnad("list", "--json").json()
    assert record["state"] == CaptureState.FAILED and record["url"] == f"http://127.0.0.1:{port}/"


# -- storage folders ------------------------------------------------------------------------

def test_a_storage_folder_that_cannot_be_created_is_named(isnad):
    (isnad.home / "a-file").write_text("in the way")
    env = {"ISNAD_STORAGE__URL": str(isnad.home / "a-file" / "packages")}
    for args in (("list",), ("storage", "sync"), ("capture", "--no-browser",
                                                   "http://127.0.0.1:9/")):
        run = isnad(*args, env=env)
        assert run.code == 2, run
        (line,) = _error_lines(run.stderr)
        assert line == (f"error: cannot create the folder {isnad.home / 'a-file' / 'packages'}"
                        " named by storage.url (ISNAD_STORAGE__URL): Not a directory"), line
    # What needs no storage still works.
    assert isnad("--version", env=env).code == 0
    keys = isnad("keys", "init", "--json", env=env)
    assert keys.code == 0, keys
    assert keys.json()["fingerprint"].startswith("sha256:")


def test_a_data_folder_that_cannot_be_created_is_named(isnad):
    (isnad.home / "a-file").write_text("in the way")
    run = isnad("list", env={"ISNAD_HOME": str(isnad.home / "a-file" / "home")})
    assert run.code == 2
    assert "named by home (ISNAD_HOME): Not a directory" in run.stderr
    assert "NotADirectoryError" not in run.stderr


# -- list -----------------------------------------------------------------------------------

def _row(capture_id: str, url: str, state: str, started: str, *, case: str | None = None,
         tags: tuple[str, ...] = (), stored: bool = True) -> CaptureRow:
    row = CaptureRow(id=capture_id, url=url, state=state, reasons=[], case_id=case,
                     tags=list(tags), operator="analyst-7",
                     started_at=datetime.fromisoformat(started).replace(tzinfo=UTC),
                     context={})
    if state != CaptureState.FAILED:
        row.package_key = f"captures/{capture_id}.wacz"
        row.package_sha256 = "0" * 64
    # A FAILED capture's custody record is stored too: that must not read as a stored package.
    row.copies = [CopyRow(target="local", state=CopyState.STORED if stored else CopyState.PENDING,
                          key=row.package_key, events_stored=1, attempts=1)]
    return row


@pytest.fixture
def catalogued(isnad):
    """A catalog with six captures (written with the archiver's own Catalog)."""
    isnad("list")  # creates the home folder and the catalog
    catalog = Catalog(f"sqlite:///{isnad.home / 'catalog.db'}")
    long_url = "https://news.example.org/" + "very-long-path-segment/" * 6 + "final-article.html"
    rows = [
        _row("01a20000-0001-7000-8000-000000000000", "https://example.org/a", CaptureState.COMPLETE,
             "2026-03-01T10:00:00", case="SY-1", tags=("idlib", "video")),
        _row("01a20000-0002-7000-8000-000000000000", "https://Example.org/B", CaptureState.PARTIAL,
             "2026-03-02T10:00:00", case="SY-1", tags=("idlib",), stored=False),
        _row("01a20000-0003-7000-8000-000000000000", "https://t.me/s/channel", CaptureState.FAILED,
             "2026-03-03T10:00:00", case="SY-2", tags=("video",)),
        _row("01a20000-0004-7000-8000-000000000000", long_url, CaptureState.COMPLETE,
             "2026-03-04T23:30:00", tags=("100%_sure",)),
        _row("01a20000-0005-7000-8000-000000000000", "https://example.net/x", CaptureState.COMPLETE,
             "2026-03-05T10:00:00", case="SY-2"),
        _row("01a29999-0006-7000-8000-000000000000", "https://example.net/y", CaptureState.COMPLETE,
             "2026-03-06T10:00:00"),
    ]
    for row in rows:
        catalog.add_capture(row)
    catalog.engine.dispose()
    return {"isnad": isnad, "long_url": long_url}


def _ids(run) -> list[str]:
    return [r["id"][12] for r in run.json()]


@pytest.mark.parametrize(("args", "ids"), [
    ((), ["6", "5", "4", "3", "2", "1"]),
    (("--case", "SY-1"), ["2", "1"]),
    (("--tag", "video"), ["3", "1"]),
    (("--tag", "idlib", "--tag", "video"), ["1"]),
    (("--tag", "100%_sure"), ["4"]),
    (("--tag", "100"), []),  # a whole tag, not part of one
    (("--state", "failed", "--state", "PARTIAL"), ["3", "2"]),
    (("--since", "2026-03-04"), ["6", "5", "4"]),
    (("--until", "2026-03-04"), ["4", "3", "2", "1"]),  # a date: up to the end of that day
    (("--until", "2026-03-04T12:00"), ["3", "2", "1"]),
    (("--since", "2026-03-02T12:00+02:00", "--until", "2026-03-03"), ["3", "2"]),
    (("--url", "example.org/b"), ["2"]),  # part of the URL, any case
    (("--url", "example.net", "--limit", "1"), ["6"]),
])
def test_list_filters(catalogued, args, ids):
    run = catalogued["isnad"]("list", "--json", *args)
    assert run.code == 0, run
    assert _ids(run) == ids


def test_list_reads_at_80_columns(catalogued):
    run = catalogued["isnad"]("list", env={"COLUMNS": "80"})
    assert run.code == 0, run
    lines = run.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    header, *rows, count = lines
    assert header.split() == ["id", "state", "stored", "started", "(UTC)", "url"]
    assert count == "6 capture(s)"
    by_id = {line.split()[0]: line for line in rows}
    # Short ids, each long enough to name its capture alone (two share 8 characters).
    assert set(by_id) == {f"01a20000-000{i}" for i in range(1, 6)} | {"01a29999"}
    failed = by_id["01a20000-0003"]
    assert failed.split()[1:3] == [CaptureState.FAILED, "-"]  # a FAILED capture is never "stored"
    assert by_id["01a20000-0002"].split()[1:3] == [CaptureState.PARTIAL, "pending"]
    assert by_id["01a20000-0001"].split()[1:5] == [
        CaptureState.COMPLETE, "yes", "2026-03-01", "10:00"]
    long_line = by_id["01a20000-0004"]
    shown_url = long_line.split()[-1]
    long_url = catalogued["long_url"]
    assert "…" in shown_url and len(long_line) == 80
    head, tail = shown_url.split("…")
    assert long_url.startswith(head) and long_url.endswith(tail)  # cut in the middle
    assert len(head) >= 10 and len(tail) >= 10  # the host's start and the page's name


def test_list_limit_shows_the_count_of_all_that_match(catalogued):
    run = catalogued["isnad"]("list", "--limit", "2", "--case", "SY-2")
    assert run.stdout.splitlines()[-1] == "2 capture(s)"
    run = catalogued["isnad"]("list", "--limit", "2")
    assert run.stdout.splitlines()[-1] == "1–2 of 6 capture(s), newest first  (next: --page 2)"
    failed = catalogued["isnad"]("list", "--json", "--state", "FAILED").json()[0]
    assert failed["stored"] is None and "stored" not in failed["storage"]


def test_catalog_find_filters_in_sql(catalogued):
    catalog = Catalog(f"sqlite:///{catalogued['isnad'].home / 'catalog.db'}")
    statements: list[str] = []

    from sqlalchemy import event

    event.listen(catalog.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: statements.append(statement))
    rows, total = catalog.find(tags=("idlib",),
                               states=(CaptureState.COMPLETE, CaptureState.PARTIAL), limit=1)
    assert [r.id[12] for r in rows] == ["2"] and total == 2
    listing = next(s for s in statements if "FROM captures" in s and "LIMIT" in s)
    assert "json_each" in listing and "state IN" in listing
    catalog.engine.dispose()


# -- capture output -------------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pages(tmp_path):
    """Two small pages on 127.0.0.1; one refers to an image on a port nobody listens on."""
    root = tmp_path / "www"
    root.mkdir()
    gone = f"http://127.0.0.1:{_closed_port()}/gone.png"
    (root / "broken.html").write_text(f'<html><head><title>Broken</title></head><body>'
                                      f'<h1>broken</h1><img src="{gone}"></body></html>')
    (root / "fine.html").write_text("<html><head><title>Fine</title></head><body>fine</body>"
                                    "</html>")
    handler = partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield {"broken": f"{base}/broken.html", "fine": f"{base}/fine.html", "gone": gone}
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *_args) -> None:
        pass


FAST = {"ISNAD_MEDIA__ENABLED": "false"}


def test_capture_prints_each_result_with_its_url_a_counter_and_a_summary(isnad, pages):
    refused = f"http://127.0.0.1:{_closed_port()}/nothing"
    run = isnad("capture", "--no-browser", pages["broken"], pages["fine"], refused, env=FAST)
    assert run.code == 2, run
    lines = run.stdout.splitlines()
    results = [line for line in lines if line.startswith("[")]
    assert len(results) == 3, run.stdout
    assert sorted(line.split()[0] for line in results) == ["[1/3]", "[2/3]", "[3/3]"]
    by_url = {line.split()[2]: line.split()[1] for line in results}
    assert by_url == {pages["broken"]: CaptureState.PARTIAL, pages["fine"]: CaptureState.COMPLETE,
                      refused: CaptureState.FAILED}
    # The failed subresource is listed with its error, not only counted.
    at = next(i for i, line in enumerate(lines) if line.startswith("  failed subresources ("))
    assert lines[at + 1].split()[0] == pages["gone"]
    assert "refused" in lines[at + 1].lower()
    # The closing summary names each URL, its state and a short id that `show` accepts.
    summary = lines[lines.index("Summary"):]
    listed = {r["url"]: r for r in isnad("list", "--json").json()}
    for url, state in by_url.items():
        row = next(line for line in summary if url in line)
        assert state in row
        short = row.split("│")[3].strip()
        assert listed[url]["id"].startswith(short)
        assert isnad("show", short, "--json").json()["url"] == url


def test_capture_jsonl_streams_one_record_per_line(isnad, pages):
    run = isnad("capture", "--no-browser", "--jsonl", pages["fine"], pages["broken"], env=FAST)
    assert run.code == 1, run  # one PARTIAL
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert {r["url"]: r["state"] for r in records} == {pages["fine"]: CaptureState.COMPLETE,
                                                        pages["broken"]: CaptureState.PARTIAL}
    broken = next(r for r in records if r["url"] == pages["broken"])
    # The one failed image is listed once and counted once, and not called a page.
    assert [f["url"] for f in broken["failed_subresources"]] == [pages["gone"]]
    assert any("failed subresources: 1 request(s)" in r for r in broken["reasons"])
    assert not any(r.startswith("page ") for r in broken["reasons"]), broken["reasons"]
    assert all(r["package_sha256"] and r["custody"] for r in records)
    both = isnad("capture", "--json", "--jsonl", pages["fine"])
    assert both.code == 2 and "--json or --jsonl" in both.stderr


def test_json_on_every_command_that_reports(isnad, pages, tmp_path):
    record = isnad.capture("--no-browser", pages["fine"], env=FAST)
    sync = isnad("storage", "sync", "--json")
    assert sync.code == 0 and sync.json() == {"stored": [], "still_pending": [], "errors": [],
                                              "ok": True}
    check = isnad("storage", "check", "--json")
    assert check.code == 1, check  # a local folder is not write-once: evidence at risk
    (target,) = check.json()["targets"]
    assert target["target"] == "local" and target["findings"]
    assert {f["level"] for f in target["findings"]} - {"ok"}
    stamps = isnad("timestamp", "--pending", "--json")
    assert stamps.code == 0 and stamps.json() == {"obtained": [], "still_pending": [],
                                                  "ok": True}
    bundle = isnad("export", record["id"], "-o", str(tmp_path / "bundle"), "--json")
    assert bundle.code == 0, bundle
    assert bundle.json()["captures"] == [record["id"]]
    assert Path(bundle.json()["sha256sums"]).is_file()
    keys = isnad("keys", "show", "--json").json()
    assert keys["fingerprint"].startswith("sha256:")
    (isnad.home / "catalog.db").unlink()
    for extra in ("catalog.db-wal", "catalog.db-shm"):
        (isnad.home / extra).unlink(missing_ok=True)
    rebuilt = isnad("reindex", "--json")
    assert rebuilt.code == 0, rebuilt
    assert rebuilt.json()["captures"] == 1 and rebuilt.json()["ok"] is True


# -- shell completion -----------------------------------------------------------------------

def test_shell_completion_completes_commands_and_options(isnad):
    assert "--install-completion" in isnad("--help").stdout
    program = Path(sys.executable).with_name("isnad")
    if not program.exists():
        pytest.skip("the isnad entry point is not installed beside this Python")

    def complete(words: str) -> list[str]:
        env = {**isnad.env, "_ISNAD_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - 1)}
        done = subprocess.run([str(program)], env=env, capture_output=True, text=True,
                              cwd=isnad.home, timeout=60)
        return done.stdout.split()

    assert complete("isnad li") == ["list"]
    assert set(complete("isnad list --st")) == {"--state"}
    assert os.environ.get("_ISNAD_COMPLETE") is None


def test_on_a_terminal_a_finished_capture_stops_spinning(isnad, pages):
    """Run in a pseudo-terminal, where spinners are drawn: once a capture's result is printed,
    no later frame shows that capture spinning (a stale frame used to)."""
    import pty
    import re

    leader, follower = pty.openpty()
    proc = subprocess.Popen(isnad.command("capture", "--no-browser", pages["broken"],
                                          pages["fine"]),
                            cwd=isnad.home, env={**isnad.env, **FAST, "COLUMNS": "200"},
                            stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=240) == 1
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    lines = [line.strip() for line in screen.replace("\r", "\n").splitlines() if line.strip()]
    spinning = re.compile(r"^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (\S+)")
    for url in (pages["broken"], pages["fine"]):
        result = next(i for i, line in enumerate(lines)
                      if line.startswith("[") and f" {url} " in f"{line} ")
        later = [line for line in lines[result + 1:]
                 if (m := spinning.match(line)) and m.group(1) == url]
        assert not later, later
    assert any(spinning.match(line) for line in lines), "no spinner was drawn at all"
