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
