"""The progress file follows a real child process's reads, and ends in a final state."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.progress import DONE, FAILED, Progress

MIB = 1 << 20

# Reads 10 MiB, says so, waits for a line on stdin; twice.
READER = """
import sys
with open('/dev/zero', 'rb', buffering=0) as zero:
    for step in range(2):
        remaining = 10 << 20
        while remaining:
            remaining -= len(zero.read(min(remaining, 1 << 20)))
        print(step, flush=True)
        sys.stdin.readline()
"""


def wait_for(path: Path, condition, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            record = json.loads(path.read_text())
            if condition(record):
                return record
        except (OSError, ValueError):
            pass
        assert time.monotonic() < deadline, f"progress file never satisfied the condition; last: {path.read_text()}"
        time.sleep(0.02)


def test_follows_the_bytes_a_command_reads(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "progress.json"
    progress = Progress(str(path), interval=0.05, source="/dev/src", destination="/dev/dst").start()
    progress.phase("copy", total=30 * MIB)
    child = subprocess.Popen([sys.executable, "-c", READER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        progress.watch(child.pid)
        assert child.stdout.readline().strip() == "0"
        first = wait_for(path, lambda record: record["bytes_done"] >= 10 * MIB)
        assert first["state"] == "running" and first["phase"] == "copy" and first["source"] == "/dev/src"
        assert first["bytes_done"] < 20 * MIB and first["bytes_total"] == 30 * MIB
        assert first["rate_bytes_per_second"] > 0 and first["eta_seconds"] is not None
        assert 0 < first["percent"] < 67

        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "1"
        second = wait_for(path, lambda record: record["bytes_done"] >= 20 * MIB)
        assert second["state"] == "running" and second["bytes_done"] < 30 * MIB
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=10) == 0
    finally:
        child.kill()
    progress.complete()
    progress.phase("check")  # no total: keeps showing the copy's count
    progress.stop(DONE, "cloned")
    final = json.loads(path.read_text())
    assert final["state"] == "done" and final["message"] == "cloned" and final["phase"] == "check"
    assert final["bytes_done"] == final["bytes_total"] == 30 * MIB and final["percent"] == 100.0
    assert [entry.name for entry in path.parent.iterdir()] == ["progress.json"], "temporary files left behind"


def test_failure_is_recorded_and_no_path_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    progress = Progress(str(path), interval=60).start()
    progress.phase("verify", total=100)
    progress.advance(40)
    assert json.loads(path.read_text())["bytes_done"] == 0  # written at phase start
    progress.stop(FAILED, "the copy differs")
    final = json.loads(path.read_text())
    assert (final["state"], final["message"], final["bytes_done"], final["percent"]) == ("failed", "the copy differs", 40, 40.0)

    silent = Progress(None).start()
    silent.phase("copy", total=10)
    silent.stop(DONE)
    assert list(tmp_path.iterdir()) == [path]
