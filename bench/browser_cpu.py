"""Where a browser capture's CPU goes: every process of a run, by kind, read from ``/proc``.

The bench's CPU column (``resource.getrusage(RUSAGE_CHILDREN)``) counts only the processes their
parent waited for; Chromium's renderers are reaped by its zygote, so they are missing there.
This samples ``/proc/<pid>/stat`` of every descendant of the command (every 0.1 s, the last
reading of each process kept) and sums user + system time by kind: Chromium's browser process,
renderers, GPU, zygote and utility processes, Playwright's driver (Node), the Python processes.

Usage: ``python bench/browser_cpu.py -- COMMAND ...`` (e.g. an ``isnad capture --depth`` of
the generated site; ``bench/capture_bench.py --bare-playwright LIST`` for the reference).
Prints one line per kind and the total, with the load average at the start and the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict

TICKS = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    """Parent pid -> its children, for every process of the machine."""
    tree: dict[int, list[int]] = defaultdict(list)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree[int(fields[1])].append(int(name))
    return tree


def _descendants(root: int) -> list[int]:
    tree = _children()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += tree.get(pid, [])
    return found


def _reading(pid: int) -> tuple[float, str] | None:
    """CPU seconds (user + system) of ``pid`` and its kind, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().split(b"\0")
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS, _kind(argv)


def _kind(argv: list[bytes]) -> str:
    program = os.path.basename(argv[0].decode(errors="replace")) if argv and argv[0] else "?"
    text = b" ".join(argv).decode(errors="replace")
    if "chrom" in program.lower() or "headless_shell" in program:
        for kind in ("renderer", "gpu-process", "zygote", "utility"):
            if f"--type={kind}" in text:
                return f"chromium {kind}"
        return "chromium browser" if "--type=" not in text else "chromium other"
    if program == "node" or "playwright" in text and "cli.js" in text:
        return "playwright driver (node)"
    if "python" in program:
        return "python command"
    return program


def main() -> None:
    """Run the command after ``--`` and print its CPU seconds by kind of process."""
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    if not argv:
        raise SystemExit("usage: browser_cpu.py -- COMMAND ...")
    load = os.getloadavg()[0]
    started = time.monotonic()
    proc = subprocess.Popen(argv)
    last: dict[int, tuple[float, str]] = {}
    while proc.poll() is None:
        for pid in _descendants(proc.pid):
            reading = _reading(pid)
            if reading is None:
                continue
            cpu, kind = reading
            if pid in last and kind == "?":  # exited: no command line any more
                kind = last[pid][1]
            elif kind.startswith("python") and pid != proc.pid:
                # the command forks its capture process (same command line)
                kind = "python child (capture process)"
            last[pid] = (cpu, kind)
        time.sleep(0.1)
    wall = time.monotonic() - started
    by_kind: dict[str, float] = defaultdict(float)
    for cpu, kind in last.values():
        by_kind[kind] += cpu
    for kind, cpu in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"{kind:30} {cpu:7.2f} CPU s")
    print(f"{'total':30} {sum(by_kind.values()):7.2f} CPU s in {wall:.1f} s wall "
          f"(load {load:.1f} at start, {os.getloadavg()[0]:.1f} at end; exit {proc.returncode})")


if __name__ == "__main__":
    main()
