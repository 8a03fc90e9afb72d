"""Commands at any size: no fixed cost that does nothing (heavy libraries imported only by the
commands that use them), paged `list`, streamed JSON, `verify --all` reporting as it goes.
The real CLI runs in a subprocess; big catalogs are written with the archiver's own Catalog."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Libraries that only capturing (or S3) needs: a command that does not capture must not load them.
HEAVY = ("scrapy", "playwright", "yt_dlp", "boto3", "botocore", "twisted", "cdxj_indexer")

def _heavy_loaded(home: Path, *args: str) -> list[str]:
    """The heavy modules in ``sys.modules`` after ``isnad ARGS`` ran to its end."""
    script = (
        "import json, sys\n"
        "heavy = set(json.loads(sys.argv[2]))\n"
        "sys.argv = ['isnad', *json.loads(sys.argv[1])]\n"
        "import isnad.cli\n"
        "try:\n"
        "    isnad.cli.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED=' + json.dumps(sorted(m for m in sys.modules\n"
        "                                    if m.split('.')[0] in heavy)))\n")
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(args), json.dumps(HEAVY)],
                          env={"ISNAD_HOME": str(home), "PATH": "/usr/bin:/bin",
                               "COLUMNS": "120"},
                          capture_output=True, text=True, timeout=120)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("LOADED="))
    return json.loads(line.removeprefix("LOADED="))


@pytest.mark.parametrize("args", [("--help",), ("list",), ("list", "--json"), ("version",)])
def test_commands_that_do_not_capture_import_no_crawler(tmp_path: Path, args: tuple[str, ...]
                                                        ) -> None:
    assert _heavy_loaded(tmp_path / "home", *args) == []


def test_the_import_check_sees_a_heavy_module(tmp_path: Path) -> None:
    """The check itself: `capture` imports the crawler before it looks at its URL."""
    assert {"scrapy", "playwright"} <= set(_heavy_loaded(tmp_path / "home", "capture", "nope"))
