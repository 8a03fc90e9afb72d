"""Logging configured once: JSON lines that parse, human lines, one handler however often it is
configured, a log file appended to, libraries kept quiet. Each case runs in its own process
(logging is process-wide state; so is what the CLI sets up)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.errors import IsnadError
from isnad.config import load_settings

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_parse_and_carry_the_extra_fields(tmp_path):
    run = _python("""
        import logging
        from isnad.logs import configure_logging
        configure_logging("json", "INFO")
        log = logging.getLogger("isnad.app.worker")
        log.debug("not shown at INFO")
        log.info("captured %s", "http://127.0.0.1/a", extra={"job_id": "j-1", "capture_id": "c-1"})
        log.warning("two\\nlines, one record", extra={"level": "never replaces the level"})
        try:
            raise ValueError("the cause")
        except ValueError:
            log.exception("capture crashed", extra={"job_id": "j-2"})
    """)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    records = _json_lines(run.stderr)
    assert len(lines) == len(records) == 3  # every record is exactly one line
    first, second, third = records
    assert first == {"time": first["time"], "level": "INFO", "logger": "isnad.app.worker",
                     "message": "captured http://127.0.0.1/a", "job_id": "j-1",
                     "capture_id": "c-1"}
    moment = datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert first["time"].endswith("Z") and moment.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 120
    assert second["message"] == "two\nlines, one record" and second["level"] == "WARNING"
    assert third["level"] == "ERROR" and third["job_id"] == "j-2"
    assert "ValueError: the cause" in third["exception"]


def test_human_lines_outside_a_terminal_are_plain_and_in_utc():
    run = _python("""
        import logging
        from isnad.logs import configure_logging
        configure_logging("human", "INFO")
        logging.getLogger("isnad.app").info("job done", extra={"job_id": "j-1", "state": "done",
                                                               "crawler": object()})
    """)
    assert run.returncode == 0, run.stderr
    (line,) = run.stderr.splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO isnad\.app: job done  "
                        r"job_id=j-1 state=done", line), line


def test_on_a_terminal_human_lines_go_through_rich(tmp_path):
    run = _python("""
        import io, logging
        from rich.console import Console
        from isnad.logs import configure_logging
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=True, width=200, color_system=None)
        configure_logging("human", "INFO", console=console)
        logging.getLogger("isnad").warning("disk nearly full", extra={"free_mib": 90})
        print(buffer.getvalue())
    """)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # the console given, not stderr
    assert "WARNING" in run.stdout and "disk nearly full  free_mib=90" in run.stdout


def test_configured_twice_one_handler_and_each_record_once(tmp_path):
    log_file = tmp_path / "twice.jsonl"
    run = _python(f"""
        import logging
        from pathlib import Path
        from isnad.logs import HANDLER_NAME, configure_logging
        configure_logging("human", "INFO")
        configure_logging("json", "INFO")
        configure_logging("json", "INFO", Path({str(log_file)!r}))
        configure_logging("json", "INFO", Path({str(log_file)!r}))
        root = logging.getLogger()
        print(sum(h.get_name() == HANDLER_NAME for h in root.handlers))
        logging.getLogger("isnad").info("once")
    """)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["2"]  # stderr and the file: one of each
    assert [r["message"] for r in _json_lines(run.stderr)] == ["once"]
    assert [r["message"] for r in _json_lines(log_file.read_text())] == ["once"]


def test_the_log_file_gets_json_lines_appended_by_several_processes(tmp_path):
    log_file = tmp_path / "logs" / "deeper" / "isnad.jsonl"  # folders made as needed
    code = f"""
        import logging, sys
        from pathlib import Path
        from isnad.logs import configure_logging
        configure_logging("human", "INFO", Path({str(log_file)!r}))
        for i in range(200):
            logging.getLogger("isnad.worker").info("line %d", i, extra={{"worker": sys.argv[-1]}})
    """
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), name], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for name in ("a", "b", "c")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    before = log_file.read_text()
    run = _python(code.replace("range(200)", "range(1)"))
    assert run.returncode == 0, run.stderr
    text = log_file.read_text()
    assert text.startswith(before)  # appended, never truncated
    records = _json_lines(text)  # human on stderr, JSON lines in the file
    assert len(records) == 601 and len(text.splitlines()) == 601  # no line torn or merged
    for worker in ("a", "b", "c"):
        assert [r["message"] for r in records if r["worker"] == worker] == \
            [f"line {i}" for i in range(200)]


def test_libraries_stay_at_warning_unless_debug():
    code = """
        import logging, sys, warnings
        from isnad.logs import configure_logging
        configure_logging("json", sys.argv[-1])
        # What starting a Scrapy crawler process does: its loggers to DEBUG, warnings captured.
        from scrapy.utils.log import configure_logging as scrapy_logging
        scrapy_logging({"LOG_INSTALL_ROOT_HANDLER": False})
        logging.getLogger("scrapy.core.engine").info("Spider opened")
        logging.getLogger("scrapy.core.engine").debug("Crawled (200)")
        logging.getLogger("asyncio").debug("poll took 0.1 ms")
        logging.getLogger("urllib3.connectionpool").info("Starting new HTTPS connection")
        logging.getLogger("huey.consumer").info("Executing task")
        logging.getLogger("scrapy.core.scraper").error("Spider error processing")
        warnings.warn("a deprecated argument", UserWarning)
        logging.getLogger("isnad").info("ours")
    """
    quiet = subprocess.run([sys.executable, "-c", textwrap.dedent(code), "INFO"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    assert [(r["logger"], r["message"]) for r in _json_lines(quiet.stderr)] == [
        ("scrapy.core.scraper", "Spider error processing"), ("isnad", "ours")]
    loud = subprocess.run([sys.executable, "-c", textwrap.dedent(code), "DEBUG"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert loud.returncode == 0, loud.stderr
    seen = {r["logger"] for r in _json_lines(loud.stderr)}
    assert {"scrapy.core.engine", "asyncio", "urllib3.connectionpool", "huey.consumer",
            "py.warnings", "isnad"} <= seen


def test_a_log_file_that_cannot_be_opened_is_one_clear_error(tmp_path):
    from isnad.logs import configure_logging

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(IsnadError, match=r"cannot open the log file .*not-a-folder/x\.jsonl: "
                                         r"File exists \(.*/not-a-folder\)$"):
        configure_logging("json", "INFO", blocker / "x.jsonl")


# -- the [logging] settings -------------------------------------------------------------------

def test_logging_settings_load_from_the_file_and_the_environment(tmp_path, monkeypatch):
    for key in ("ISNAD_LOGGING__LEVEL", "ISNAD_LOGGING__FORMAT", "ISNAD_LOGGING__FILE"):
        monkeypatch.delenv(key, raising=False)
    config = tmp_path / "isnad.toml"
    config.write_text('[logging]\nlevel = "info"\nformat = "json"\nfile = "logs/x.jsonl"\n')
    section = load_settings(config).logging
    assert (section.level, section.format, section.file) == ("INFO", "json", Path("logs/x.jsonl"))
    monkeypatch.setenv("ISNAD_LOGGING__FILE", "")
    assert load_settings(config).logging.file is None  # empty: no file
    monkeypatch.setenv("ISNAD_LOGGING__FORMAT", "xml")
    with pytest.raises(IsnadError, match=r"logging\.format \(ISNAD_LOGGING__FORMAT\)"):
        load_settings(config)


def test_resolve_mode():
    from isnad.logs import resolve_mode

    assert resolve_mode("auto") == "human" and resolve_mode("auto", service=True) == "json"
    assert resolve_mode("json") == "json" and resolve_mode("human", service=True) == "human"
    with pytest.raises(ValueError, match="auto, human or json"):
        resolve_mode("xml")


def test_the_cli_logs_through_the_settings(isnad):
    """The CLI configures logging at its entry point: the settings choose the form and the file
    (a relative file is inside the data folder)."""
    env = {"ISNAD_LOGGING__FORMAT": "json", "ISNAD_LOGGING__FILE": "logs/isnad.jsonl"}
    # The first capture creates a signing key and says so in a warning; nothing listens on :9.
    run = isnad("capture", "--no-browser", "--json", "http://127.0.0.1:9/", env=env)
    assert run.stdout.strip(), run.stderr
    logged = [r for r in _json_lines(run.stderr) if r["logger"] == "isnad"]
    assert any("created a signing key" in r["message"] for r in logged), run.stderr
    in_file = _json_lines((isnad.home / "logs" / "isnad.jsonl").read_text())
    assert [r["message"] for r in in_file if r["logger"] == "isnad"] == \
        [r["message"] for r in logged]
    bad = isnad("list", env={"ISNAD_LOGGING__FILE": str(isnad.home / "catalog.db" / "x")})
    assert bad.code == 2 and "cannot open the log file" in bad.stderr, bad.stderr
    assert "(named by logging.file, ISNAD_LOGGING__FILE)" in bad.stderr
    assert "Traceback" not in bad.stderr
