# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A progress file for long-running work, for playbooks that run a module with async/poll: 0.

A background thread rewrites one small JSON document every few seconds (atomically: readers never
see half a file): state, phase, bytes done and total, rate, ETA. Bytes come either from the
module itself (`advance`) or from a running copy command, read from its /proc/<pid>/io counters,
which works for any copy tool without parsing its output.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from typing import Any, Dict, Optional

RUNNING = "running"
DONE = "done"
FAILED = "failed"


class Progress:
    """Writes the progress file at `path` every `interval` seconds between start() and stop()."""

    def __init__(self, path: Optional[str], interval: float = 2.0, **identity: Any) -> None:
        self.path = path
        self.interval = interval
        self.identity = identity  # e.g. source and destination, copied into every record
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._started = time.time()
        self._phase = ""
        self._counting_since = time.monotonic()
        self._total = 0
        self._done = 0
        self._pid: Optional[int] = None
        self._pid_base = 0

    def start(self) -> "Progress":
        if self.path:
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, mode=0o755, exist_ok=True)
            self._write(RUNNING)
            self._thread = threading.Thread(target=self._loop, name="pv2hvm-progress", daemon=True)
            self._thread.start()
        return self

    def phase(self, name: str, total: Optional[int] = None) -> None:
        """A new step. With a `total` the byte count restarts from 0; steps without one (a check,
        a UUID change) keep showing the last count, so the record stays informative."""
        with self._lock:
            self._phase, self._pid = name, None
            if total is not None:
                self._total, self._done = max(total, 0), 0
                self._counting_since = time.monotonic()
        self._write(RUNNING)

    def complete(self) -> None:
        """The counted work of this step is finished (a watched command exited successfully)."""
        with self._lock:
            self._done, self._pid = self._total, None

    def advance(self, count: int) -> None:
        with self._lock:
            self._done += count

    def watch(self, pid: int) -> None:
        """Count the bytes process `pid` reads as this phase's progress (see commands.run on_start)."""
        with self._lock:
            self._pid, self._pid_base = pid, self._done

    def stop(self, state: str, message: str = "") -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.path:
            if state == DONE:
                with self._lock:
                    self._done = self._total
            self._write(state, message)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._write(RUNNING)

    def _sample(self) -> None:
        if self._pid is None:
            return
        read = _bytes_read_by(self._pid)
        if read is not None:
            # Tools read some metadata twice: never claim to be done before they exit.
            self._done = min(self._pid_base + read, int(self._total * 0.99)) if self._total else read

    def record(self, state: str, message: str = "") -> Dict[str, Any]:
        with self._lock:
            self._sample()
            elapsed = max(time.monotonic() - self._counting_since, 1e-6)
            rate = self._done / elapsed
            eta = (self._total - self._done) / rate if rate > 0 and self._total else None
            return dict(
                self.identity, state=state, phase=self._phase, message=message,
                bytes_done=self._done, bytes_total=self._total,
                percent=round(100.0 * self._done / self._total, 1) if self._total else None,
                rate_bytes_per_second=int(rate), eta_seconds=int(eta) if eta is not None else None,
                elapsed_seconds=round(time.time() - self._started, 1),
                updated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), pid=os.getpid(),
            )

    def _write(self, state: str, message: str = "") -> None:
        if not self.path:
            return
        document = json.dumps(self.record(state, message), sort_keys=True)
        directory = os.path.dirname(os.path.abspath(self.path))
        handle, temporary = tempfile.mkstemp(prefix=".progress-", dir=directory)
        with os.fdopen(handle, "w") as stream:
            stream.write(document + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, self.path)


def _bytes_read_by(pid: int) -> Optional[int]:
    """Bytes a process has read so far (all its threads), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/io") as handle:
            for line in handle:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
