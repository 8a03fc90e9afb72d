"""A capture process leaves without tearing its interpreter down (a second or more of freeing
modules one by one, for nothing), but only after what it reported is flushed."""

from __future__ import annotations

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
