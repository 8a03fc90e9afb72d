"""Commands at any size: no fixed cost that does nothing (heavy libraries imported only by the
commands that use them), paged `list`, streamed JSON, `verify --all` reporting as it goes.
The real CLI runs in a subprocess; big catalogs are written with the archiver's own Catalog."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

# Libraries that only capturing (or S3) needs: a command that does not capture must not load them;
# nor the web app's, which only `isnad serve` needs.
HEAVY = ("scrapy", "playwright", "yt_dlp", "boto3", "botocore", "twisted", "cdxj_indexer",
         "fastapi", "uvicorn", "starlette", "jinja2")

def _heavy_loaded(home: Path, *args: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The heavy modules in ``sys.modules`` after ``isnad ARGS`` ran to its end (``heavy``:
    top-level packages, or dotted modules)."""
    script = (
        "import json, sys\n"
        "heavy = set(json.loads(sys.argv[2]))\n"
        "sys.argv = ['isnad', *json.loads(sys.argv[1])]\n"
        "import isnad.cli\n"
        "isnad.cli._leave_at_once = sys.exit  # to look at sys.modules after the command\n"
        "try:\n"
        "    isnad.cli.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED=' + json.dumps(sorted(m for m in sys.modules\n"
        "                                    if m.split('.')[0] in heavy or m in heavy)))\n")
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(args), json.dumps(heavy)],
                          env={"ISNAD_HOME": str(home), "PATH": "/usr/bin:/bin",
                               "COLUMNS": "120"},
                          capture_output=True, text=True, timeout=120)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("LOADED="))
    return json.loads(line.removeprefix("LOADED="))


@pytest.mark.parametrize("args", [("--help",), ("list",), ("list", "--json"), ("version",),
                                  ("users", "list"), ("tokens", "list", "--json")])
def test_commands_that_do_not_capture_import_no_crawler(tmp_path: Path, args: tuple[str, ...]
                                                        ) -> None:
    assert _heavy_loaded(tmp_path / "home", *args) == []


# What `isnad list` does not need once the catalog exists: Alembic (the schema is at head,
# seen with one plain query), the proof modules (signing, timestamps and their ASN.1 and X.509
# libraries: nothing is verified), psycopg (SQLite catalog).
LIST_NEEDS_NONE_OF = ("alembic", "archiver.proof", "archiver.signing", "archiver.timestamps",
                      "asn1crypto", "cryptography", "psycopg", "wacz", "warcio")


def test_list_on_an_empty_home_loads_neither_alembic_nor_the_proof_modules(tmp_path: Path
                                                                           ) -> None:
    """`isnad list` on a home with an empty catalog (after the first command made it) pays
    only for what it uses; the first command, which creates the catalog, needs Alembic."""
    home = tmp_path / "home"
    assert "alembic" in _heavy_loaded(home, "list", heavy=LIST_NEEDS_NONE_OF)
    assert _heavy_loaded(home, "list", heavy=LIST_NEEDS_NONE_OF) == []
    assert _heavy_loaded(home, "list", "--json", heavy=LIST_NEEDS_NONE_OF) == []


# What a command that only reads the catalog (a page of captures, of jobs, one capture, the
# help) does not need once the catalog exists: the queue's stack (Huey, Redis, psycopg: jobs
# are listed from the catalog), the scheduler's cron parser (the default schedules are not
# validated at start), psutil (no process is judged when none is RUNNING), and what `list`
# above needs none of. (importlib.metadata is no longer imported for Isnad's version, but
# pydantic's plugin loader imports it when the settings are first validated.)
READER_NEEDS_NONE_OF = (*HEAVY, *LIST_NEEDS_NONE_OF, "huey", "redis", "apscheduler", "psutil",
                        "crawlers.run", "crawlers.recording",
                        "isnad.app.capture", "isnad.app.worker", "isnad.app.queue")


def test_commands_that_read_the_catalog_load_only_what_they_use(tmp_path: Path) -> None:
    """Checked without timing, on sys.modules after each command ran (issue 17: `isnad jobs`
    loaded the whole capture and the queue, `isnad list` APScheduler and psutil)."""
    home = tmp_path / "home"
    _heavy_loaded(home, "list")  # the first command makes the catalog
    for args in (("--help",), ("list",), ("list", "--json"), ("jobs",), ("jobs", "--json"),
                 ("show", "0000"), ("show", "0000", "--json")):
        assert _heavy_loaded(home, *args, heavy=READER_NEEDS_NONE_OF) == [], args


# What Typer's Rich help panels load (Markdown, Pygments): the help is Click's plain text.
RICH_HELP = ("typer.rich_utils", "markdown_it", "pygments")


def test_help_and_list_load_no_rich_help_panels(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _heavy_loaded(home, "list")  # the first command makes the catalog (Alembic loads Pygments)
    for args in (("--help",), ("list", "--help"), ("jobs", "--help"), ("list",)):
        assert _heavy_loaded(home, *args, heavy=RICH_HELP) == [], args


def test_the_entry_point_builds_only_the_command_it_runs(monkeypatch) -> None:
    """Typer turns every registered command's signature into Click parameters at each start;
    `isnad list` has only `list` built (and `isnad jobs show` only the `jobs` group).
    Anything that is not a known command's name gets the whole app: help, suggestions and
    shell completion see every command."""
    from isnad import cli

    only = cli._invoked(["--config", "list", "--debug", "list", "--json"])  # a file named list
    assert [c.callback.__name__ for c in only.registered_commands] == ["list_captures"]
    assert only.registered_groups == [] and only.registered_callback is not None
    grouped = cli._invoked(["jobs", "show", "abc"])
    assert grouped.registered_commands == []
    assert [g.name for g in grouped.registered_groups] == ["jobs"]
    assert [c.callback.__name__ for c in cli._invoked(["import", "x"]).registered_commands
            ] == ["import_"]
    for whole in ([], ["--help"], ["--debug"], ["lst"], ["--", "list"]):
        assert cli._invoked(whole) is cli.app, whole
    assert len(cli.app.registered_commands) > 10 and len(cli.app.registered_groups) > 5
    monkeypatch.setenv("_ISNAD_COMPLETE", "bash_complete")
    assert cli._invoked(["list"]) is cli.app


def test_a_command_still_runs_and_refuses_like_before_when_built_alone(isnad) -> None:
    assert isnad("--debug", "list").stdout.splitlines()[-1] == "0 capture(s)"
    wrong = isnad("list", "--nope")
    assert wrong.code == 2 and "No such option: --nope" in wrong.stderr
    assert isnad("jobs", "show", "nope").code != 0
    assert "list" in isnad("--help").stdout and "--page" in isnad("list", "--help").stdout


def test_a_command_does_not_look_for_pydantic_plugins(tmp_path: Path) -> None:
    """Validating the settings would read the entry points of every installed distribution
    to find Pydantic plugins (Isnad has none), unless PYDANTIC_DISABLE_PLUGINS says not to;
    a value set by the user is kept."""
    script = ("import sys\n"
              "sys.argv = ['isnad', 'list']\n"
              "import isnad.cli\n"
              "isnad.cli._leave_at_once = sys.exit\n"
              "try:\n"
              "    isnad.cli.main()\n"
              "except SystemExit:\n"
              "    pass\n"
              "import os, pydantic.plugin._loader as loader\n"
              "print('SCANNED=' + str(loader._plugins is not None),\n"
              "      'SETTING=' + repr(os.environ['PYDANTIC_DISABLE_PLUGINS']))\n")
    env = {"ISNAD_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    for given, expected in ((None, "SCANNED=False SETTING='__all__'"),
                            ("", "SCANNED=True SETTING=''")):
        extra = {} if given is None else {"PYDANTIC_DISABLE_PLUGINS": given}
        done = subprocess.run([sys.executable, "-c", script], env={**env, **extra},
                              capture_output=True, text=True, timeout=120)
        assert done.stdout.splitlines()[-1] == expected, done.stderr


def _ends(home: Path, *args: str) -> tuple[int, list[str]]:
    """Exit status and stdout lines of `isnad ARGS` run by ``isnad.cli.main`` in a process
    that would print 'torn down' at the interpreter's normal exit."""
    script = ("import atexit, json, sys\n"
              "atexit.register(lambda: print('torn down', flush=True))\n"
              "sys.argv = ['isnad', *json.loads(sys.argv[1])]\n"
              "import isnad.cli\n"
              "isnad.cli.main()\n")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(args)],
                          env={"ISNAD_HOME": str(home), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout.splitlines()


def test_commands_that_read_leave_without_the_interpreters_teardown(tmp_path: Path) -> None:
    """`list`, `show`, `jobs`... exit once their output is flushed, with their status, without
    freeing every module one by one (a fifth of `isnad list`'s CPU time); the others exit as
    Python does."""
    home = tmp_path / "home"
    code, lines = _ends(home, "--debug", "list", "--json")
    assert (code, lines) == (0, ["[]"])  # flushed, whole, and not torn down
    # ...but its catalog was closed as the teardown would: SQLite folded its write-ahead log
    # into the database and removed it (a PostgreSQL server is told the session ended).
    assert (home / "catalog.db").is_file() and not (home / "catalog.db-wal").exists()
    code, lines = _ends(home, "show", "0000")
    assert (code, lines) == (2, [])
    code, lines = _ends(home, "users", "list", "--json")
    assert code == 0 and lines[-1] == "torn down"
    from isnad.cli import _reads_only

    assert _reads_only(["--config", "c.toml", "jobs", "--json"])
    assert _reads_only(["jobs", "show", "abc"]) and _reads_only(["list", "--case", "x"])
    assert not _reads_only(["jobs", "retry", "abc"]) and not _reads_only(["capture", "list"])
    assert not _reads_only(["--help"]) and not _reads_only([])


# -- the schema check when the catalog is at head ----------------------------------------------

def test_the_head_revision_written_in_the_code_is_the_migrations_head() -> None:
    """archiver.schema.HEAD spares every command Alembic's script machinery; it must be what
    Alembic reads from the scripts (a new revision changes HEAD and HEAD_FILES with it)."""
    from archiver import schema

    assert schema.HEAD == schema.head()  # Alembic's own reading
    assert schema.HEAD_FILES == len(schema.revision_files())
    assert schema._plain_head() == schema.HEAD
    schema._plain_head.cache_clear()
    assert schema.known_head() == schema.HEAD
    assert schema._plain_head.cache_info().misses == 0  # the scripts were not read


def test_a_head_constant_left_behind_by_a_new_revision_is_not_trusted(monkeypatch) -> None:
    from archiver import schema

    monkeypatch.setattr(schema, "HEAD", "0006_case_notes")  # as if 0007 were added after it
    monkeypatch.setattr(schema, "HEAD_FILES", schema.HEAD_FILES - 1)
    assert schema.known_head() == schema.head()  # read from the scripts instead


def _catalog_at(path: Path, revision: str) -> str:
    """An SQLite catalog brought up to ``revision`` only, holding one capture; its URL."""
    import sqlalchemy as sa

    from archiver import schema

    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    schema.upgrade(engine, revision)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO captures (id, url, state, reasons, tags, operator, started_at, context)"
            " VALUES ('0123abcd-0000-7000-8000-000000000000', 'https://example.org/old',"
            " 'COMPLETE', '[]', '[]', 'analyst', '2026-03-01 10:00:00.000000', '{}')")
    engine.dispose()
    return url


def test_a_catalog_behind_is_refused_with_what_to_run_when_not_upgraded_on_opening(tmp_path
                                                                                     ) -> None:
    import sqlalchemy as sa

    from archiver import schema
    from archiver.errors import SchemaError

    engine = sa.create_engine(_catalog_at(tmp_path / "catalog.db", "0006_case_notes"))
    with pytest.raises(SchemaError, match="is at schema revision 0006_case_notes; this Isnad "
                       f"needs {schema.HEAD}: run `isnad db upgrade`"):
        schema.ensure(engine, upgrade_automatically=False)
    schema.ensure(engine, upgrade_automatically=True)
    assert schema.current(engine) == schema.HEAD
    engine.dispose()


def test_an_old_sqlite_catalog_is_upgraded_in_place_by_a_command_then_read_without_alembic(
        isnad) -> None:
    _catalog_at(isnad.home / "catalog.db", "0006_case_notes")
    assert "alembic" in _heavy_loaded(isnad.home, "list", heavy=("alembic",))  # upgrades it
    listed = isnad("list", "--json").json()
    assert [c["url"] for c in listed] == ["https://example.org/old"]  # its data kept
    current = isnad("db", "current")
    assert current.code == 0, current.stdout + current.stderr
    assert _heavy_loaded(isnad.home, "list", heavy=("alembic",)) == []
    assert isnad("db", "upgrade").code == 0  # still works on a catalog at head


def test_the_import_check_sees_a_heavy_module(tmp_path: Path) -> None:
    """The check itself: `capture` imports the crawler before it looks at its URL."""
    assert {"scrapy", "playwright"} <= set(_heavy_loaded(tmp_path / "home", "capture", "nope"))


# -- paged list, streamed JSON ----------------------------------------------------------------

def _catalog(home: Path, count: int) -> list[str]:
    """``count`` captures with a stored copy each, written straight into ``home``'s catalog;
    their ids, newest first."""
    from archiver.catalog import CaptureRow, Catalog, CopyRow

    home.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    ids = [f"01a2{i:04x}-0000-7000-8000-000000000000" for i in range(count)]
    with catalog.engine.begin() as conn:
        conn.execute(CaptureRow.__table__.insert(), [
            {"id": capture_id, "url": f"https://example.org/{i}", "state": "COMPLETE",
             "reasons": [], "tags": [], "operator": "analyst", "context": {},
             "started_at": datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=i),
             "package_key": f"captures/{capture_id}.wacz", "package_sha256": "0" * 64}
            for i, capture_id in enumerate(ids)])
        conn.execute(CopyRow.__table__.insert(), [
            {"capture_id": capture_id, "target": "local", "state": "STORED",
             "key": f"captures/{capture_id}.wacz", "location": f"/packages/{capture_id}.wacz",
             "events_stored": 1, "attempts": 1} for capture_id in ids])
    catalog.engine.dispose()
    return ids[::-1]


@pytest.fixture
def seventy(isnad):
    """A catalog of 70 captures (more than one page of the table)."""
    return isnad, _catalog(isnad.home, 70)


def test_list_pages_are_disjoint_and_together_complete(seventy):
    isnad, ids = seventy
    pages = [isnad("list", "--json", "--limit", "30", "--page", str(n)).json() for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [30, 30, 10]
    assert [c["id"] for p in pages for c in p] == ids  # newest first, none twice, none missing
    assert pages[1][0]["storage"] == "stored: local" and pages[1][0]["stored"] is True
    assert isnad("list", "--json", "--limit", "30", "--page", "4").json() == []


def test_list_table_shows_a_page_and_says_where_it_stands(seventy):
    isnad, ids = seventy
    first = isnad("list").stdout.splitlines()
    assert len(first) == 1 + 50 + 1  # header, the default page, the count
    assert first[-1] == "1–50 of 70 capture(s), newest first  (next: --page 2)"
    assert first[1].split()[0] == ids[0][:8] or ids[0].startswith(first[1].split()[0])
    second = isnad("list", "--page", "2").stdout.splitlines()
    assert second[-1] == "51–70 of 70 capture(s), newest first"
    shown = [line.split()[0] for line in first[1:-1] + second[1:-1]]
    assert len(shown) == 70 and all(i.startswith(s) for i, s in zip(ids, shown, strict=True))


def test_list_json_is_streamed_whole_and_jsonl_is_one_valid_line_each(seventy):
    isnad, ids = seventy
    run = isnad("list", "--json")
    assert run.code == 0 and [c["id"] for c in json.loads(run.stdout)] == ids  # not a page
    lines = isnad("list", "--jsonl").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ids
    assert json.loads(lines[0]) == json.loads(run.stdout)[0]  # the same shape
    assert isnad("list", "--json", "--jsonl").code == 2


def test_a_page_loads_its_copies_in_one_query(tmp_path: Path):
    """Not one query per row: a page of 50 out of 120 is three statements (count, rows,
    copies)."""
    from sqlalchemy import event

    from archiver.catalog import Catalog

    _catalog(tmp_path, 120)
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    statements: list[str] = []
    event.listen(catalog.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: statements.append(statement))
    rows, total = catalog.find(limit=50, offset=50)
    assert total == 120 and len(rows) == 50
    assert all(r.copies[0].target == "local" for r in rows)  # loaded: the session is closed
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 3
    streamed = list(catalog.iter_find(batch=25))
    assert len(streamed) == 120 and len({r.id for r in streamed}) == 120
    assert all(r.copies for r in streamed)
    catalog.engine.dispose()


# -- verify --all: a report per capture as it goes, on every core ------------------------------

@pytest.mark.e2e
def test_verify_all_and_audit_stream_a_result_per_capture_and_find_the_tampered_one(isnad,
                                                                                   site):
    run = isnad("capture", "--json", "--no-browser", *(site.url(p) for p in (
        "/final.html", "/arabic.html", "/gzip.html")))
    captured = run.json()
    assert [c["state"] for c in captured] == ["COMPLETE"] * 3, run.stderr
    ids = sorted(c["id"] for c in captured)
    tampered = ids[1]
    location = Path(next(c["location"] for c in isnad("show", tampered, "--json").json()
                         ["copies"]))
    location.chmod(0o644)
    data = bytearray(location.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the middle of the package
    location.write_bytes(bytes(data))

    run = isnad("verify", "--all", "--jsonl", "--workers", "2")
    assert run.code == 1, run.stdout + run.stderr
    reports = [json.loads(line) for line in run.stdout.splitlines()]  # each line valid JSON
    assert [r["subject"].split()[1] for r in reports] == ids  # one each, in id order
    assert [r["ok"] for r in reports] == [True, False, True]
    found = [c["name"] for c in reports[1]["checks"] if not c["ok"]]
    assert "local: stored package hash matches the catalog" in found

    listed = isnad("verify", "--all", "--json")  # the same reports, as one JSON list
    assert listed.code == 1 and [r["ok"] for r in listed.json()] == [True, False, True]
    people = isnad("verify", "--all", "--workers", "1")
    assert people.code == 1
    assert [line.split()[0] for line in people.stdout.splitlines()
            if line.startswith(("INTACT", "MISMATCH"))] == ["INTACT", "MISMATCH", "INTACT"]
    actions = [e["action"] for e in isnad("show", tampered, "--json").json()["custody"]]
    assert actions[-3:] == ["verification-failed"] * 3

    audit = isnad("audit", "--jsonl", "--workers", "2")
    assert audit.code == 1, audit.stdout + audit.stderr
    *captures, last = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [c["capture_id"] for c in captures] == ids
    assert [c["ok"] for c in captures] == [True, False, True]
    assert "hashes to" in captures[1]["findings"][0]["detail"]
    assert last["totals"]["ok"] is False and Path(last["totals"]["report_path"]).exists()
    people = isnad("audit", "--workers", "2")
    assert people.code == 1
    assert [line.split()[0] for line in people.stdout.splitlines()
            if line.startswith(("INTACT", "MISMATCH"))] == ["INTACT", "MISMATCH", "INTACT"]
    assert isnad("audit", "--json").json()["ok"] is False  # the one object, as before
    actions = [e["action"] for e in isnad("show", tampered, "--json").json()["custody"]]
    assert actions[-3:] == ["audit-failed"] * 3


# -- a capture's JSON result: the page list only when asked for --------------------------------

@pytest.mark.e2e
def test_capture_json_leaves_the_page_list_out_unless_asked(isnad, site):
    rec = isnad.capture("--no-browser", "--depth", "1", "--scope", "host",
                        site.url("/links.html"))
    assert rec["state"] == "COMPLETE", rec["stderr"]
    assert "pages" not in rec["context"] and rec["page_count"] >= 3
    shown = isnad("show", rec["id"], "--json").json()  # the record itself keeps them
    assert len(shown["context"]["pages"]) == rec["page_count"]
    run = isnad("capture", "--jsonl", "--pages", "--no-browser", site.url("/final.html"))
    (line,) = run.stdout.splitlines()
    asked = json.loads(line)
    assert [p["url"] for p in asked["context"]["pages"]] == [site.url("/final.html")]
    assert asked["page_count"] == 1
