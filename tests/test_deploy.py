"""compose.yaml cannot run here (no containers): these tests keep it in step with the code —
every ISNAD_ variable it sets is a setting Isnad accepts, every command it runs exists, each
worker has a data folder and a machine name of its own, and the Dockerfile copies what exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _filled(value: str) -> str:
    """``${NAME:-default}`` / ``${NAME:?error}`` / ``${NAME}`` as compose would fill them
    from deploy.env.example."""
    example = dict(line.split("=", 1) for line in
                   (ROOT / "deploy.env.example").read_text().splitlines()
                   if line and not line.startswith("#"))

    def one(match: re.Match) -> str:
        name, default = match.group(1), match.group(3) or ""
        return example.get(name) or default

    return re.sub(r"\$\{(\w+)(:[-?]([^}]*))?\}", one, str(value))


def _services_running_isnad() -> dict[str, dict]:
    return {name: s for name, s in _compose()["services"].items()
            if s.get("image") == "isnad:local"}


def test_every_isnad_setting_in_compose_is_one_isnad_accepts(tmp_path):
    services = _services_running_isnad()
    assert {"scheduler", "worker-1", "worker-2", "cli"} <= set(services)
    for name, service in services.items():
        env = {k: _filled(v) for k, v in (service.get("environment") or {}).items()}
        isnad_env = {k: v for k, v in env.items() if k.startswith("ISNAD_")}
        # Settings read only ISNAD_ variables: load them as the container would.
        script = ("from isnad.config import Settings; s = Settings(); "
                  "print(s.queue.url, s.storage.endpoint_url, s.worker.host, s.home)")
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                  "ISNAD_HOME": "/data", **isnad_env}, cwd=tmp_path)
        assert run.returncode == 0, (name, run.stderr[-2000:])
        if name in ("worker-1", "worker-2", "scheduler"):
            assert env["ISNAD_QUEUE__URL"].startswith("redis://"), name


def test_each_worker_has_its_own_data_folder_and_machine_name():
    services = _services_running_isnad()
    workers = {n: s for n, s in services.items() if s["command"][0] == "worker"}
    assert len(workers) >= 2
    names = [s["environment"]["ISNAD_WORKER__HOST"] for s in workers.values()]
    folders = [next(v for v in s["volumes"] if v.endswith(":/data")) for s in workers.values()]
    assert len(set(names)) == len(names) and len(set(folders)) == len(folders)
    for service in workers.values():
        assert "--concurrency" in service["command"]
    assert _compose()["services"]["scheduler"]["command"] == ["scheduler"]


def test_the_commands_compose_runs_exist():
    for args in (["worker", "--help"], ["scheduler", "--help"], ["keys", "init", "--help"],
                 ["workers", "--help"]):
        run = subprocess.run([sys.executable, "-m", "isnad.cli", *args], capture_output=True,
                             text=True, cwd=ROOT)
        assert run.returncode == 0, (args, run.stderr)
    help_text = subprocess.run([sys.executable, "-m", "isnad.cli", "worker", "--help"],
                               capture_output=True, text=True, cwd=ROOT).stdout
    assert "--concurrency" in help_text


def test_the_dockerfile_copies_what_exists_and_runs_makes_install_steps():
    text = (ROOT / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert "make system-deps" in text and "make .venv/.installed" in text
    makefile = (ROOT / "Makefile").read_text()
    assert "system-deps:" in makefile and "$(VENV)/.installed:" in makefile
