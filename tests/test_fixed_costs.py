"""Fixed costs of a capture process that do nothing for the capture: tearing its interpreter
down at exit (a second or more of freeing modules one by one), and Scrapy's TLS module imported
deep inside the reactor (its deprecated aliases read the source of every frame on the stack)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_capture_process_exits_with_its_events_flushed_and_no_teardown():
    script = (
        "import atexit, os, sys, logging\n"
        "from isnad.app.child import Reporter, _leave\n"
        "atexit.register(lambda: print('torn down', flush=True))\n"
        "logging.basicConfig(stream=sys.stderr)\n"
        "reporter = Reporter(os.dup(1))\n"
        "reporter.send('result', capture_id='c1', state='COMPLETE')\n"
        "reporter.send('done')\n"
        "logging.getLogger('isnad').warning('last words')\n"
        "_leave(0, reporter)\n"
        "print('not reached')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        '{"type": "result", "capture_id": "c1", "state": "COMPLETE"}', '{"type": "done"}']
    assert "last words" in done.stderr


def test_scrapys_tls_module_is_imported_by_the_capture_process_not_by_the_recorder(tmp_path):
    """The capture process imports it first (crawlers.run.import_tls_early), not inside the
    reactor; and importing the recorder does not, since in a process that loads isnad.app's
    lazy modules (the web app) its inspect.stack() loaded them half-way: `isnad serve` could
    not start its worker ("cannot import name 'list_monitors'")."""
    script = ("import sys, crawlers.recording\n"
              "print('scrapy.core.downloader.tls' in sys.modules)\n"
              "from crawlers.run import import_tls_early\n"
              "import_tls_early()\n"
              "print('scrapy.core.downloader.tls' in sys.modules)\n"
              "import isnad.cli\n"
              "from isnad.config import Settings\n"
              "from isnad.web.app import create_app\n"
              "create_app(Settings())\n"
              "from isnad.app.schedules import _terminate_with_parent\n"
              "print('served')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "ISNAD_HOME": str(tmp_path)})
    assert done.stdout.split() == ["False", "True", "served"], done.stderr


def test_the_application_layer_loads_no_module_lazily():
    """isnad.app's use case modules are plain modules: one taken from the package (`from
    isnad.app import monitors`) is whole at once, never a LazyLoader module that anything
    walking sys.modules during an import (inspect.stack()) could find half-loaded."""
    script = ("import importlib.util, sys\n"
              "import isnad.cli, isnad.app\n"
              "from isnad.app import catalog, monitors, records\n"
              "print(hasattr(monitors, 'list_monitors'), hasattr(isnad.app, '__getattr__'))\n"
              "lazy = [name for name, module in list(sys.modules.items())\n"
              "        if isinstance(module, importlib.util._LazyModule)]\n"
              "print(lazy)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.split("\n")[:2] == ["True False", "[]"], done.stderr


def _fake_distribution(folder: Path, name: str, version: str) -> None:
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_tool_versions_are_read_once_and_again_after_an_install(tmp_path, monkeypatch):
    """A warm process reads the tools' versions once for all the captures it forks
    (crawlers.run.kept_while); an install that changes them is seen by the next capture,
    which records the versions as they are, never the ones kept from before."""
    from crawlers import run

    reads = []
    monkeypatch.setattr(run, "version", lambda name: reads.append(name) or
                        __import__("importlib.metadata").metadata.version(name))
    site = tmp_path / "site"
    site.mkdir()
    _fake_distribution(site, "warcio", "98.0")
    monkeypatch.syspath_prepend(str(site))
    assert run.tool_versions()["warcio"] == "98.0"
    assert len(reads) == len(run.TOOLS)
    versions = run.tool_versions()
    versions["warcio"] = "changed by a caller"
    assert run.tool_versions()["warcio"] == "98.0"
    assert len(reads) == len(run.TOOLS)  # nothing read again: nothing was installed
    # An upgrade, as pip makes it: the old dist-info folder goes, a new one comes.
    (site / "warcio-98.0.dist-info" / "METADATA").unlink()
    (site / "warcio-98.0.dist-info").rmdir()
    _fake_distribution(site, "warcio", "99.0")
    assert run.tool_versions()["warcio"] == "99.0"
    assert len(reads) == 2 * len(run.TOOLS)


def test_font_packages_are_read_once_and_again_after_dpkg_changed(tmp_path, monkeypatch):
    from crawlers import run

    status = tmp_path / "status"
    status.write_text("one\n")
    monkeypatch.setattr(run, "DPKG_STATUS", str(status))
    calls = []
    real = subprocess.run
    monkeypatch.setattr(run.subprocess, "run", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = run.font_packages()
    assert run.font_packages() == first and len(calls) == 1
    # dpkg writes a new status file and renames it into place at each install or removal.
    replacement = tmp_path / "status-new"
    replacement.write_text("one\ntwo\n")
    replacement.replace(status)
    assert run.font_packages() == first  # the same fonts are installed here, read again
    assert len(calls) == 2
