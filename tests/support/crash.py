"""Kill the controller of a lab migration in the middle of a step, as a crash would (issue 17).

The kill itself is the callback tests/support/callback_plugins/pv2hvm_crash.py, in ansible-playbook.
A Crash says when: as a named task starts, while a task runs in the image's chroot, or once the lab
endpoint has made the resource of an API call and before it answers (the resource exists in AWS, the
controller never learns its id). "tree" kills ansible-playbook and every process under it (the
controller machine dies); "group" kills its process group only (the task in flight runs on in its own
session, as on a remote worker).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

from tests.support.modules import REPO_ROOT

CALLBACKS = REPO_ROOT / "tests" / "support" / "callback_plugins"


class Crash(NamedTuple):
    step: str  # the migration step it dies in (issue 17's list)
    mode: str  # "tree" or "group"
    task: str = ""  # dies as this task starts (or, with in_chroot, while it runs in the chroot) ...
    api: str = ""  # ... or once the lab has made this call's resource, before answering it
    in_chroot: bool = False
    calls: int = 1  # with api: dies after this many of its calls (e.g. half-way through an upload's blocks)
    request: str = ""  # with api: counts only the calls whose parameters hold this text (which snapshot it is)


def crash_env(crash: Crash, work: Path) -> dict[str, str]:
    """The callback's environment for one crash; its log is work/crash.log (one line per kill)."""
    env = {"ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "pv2hvm_crash",
           "PV2HVM_CRASH_MODE": crash.mode, "PV2HVM_CRASH_LOG": str(work / "crash.log")}
    if crash.api:
        env["PV2HVM_CRASH_TRIGGER"] = str(_trigger(work))
    else:
        env["PV2HVM_CRASH_AT"] = crash.task
    if crash.in_chroot:
        env["PV2HVM_CRASH_IN_CHROOT"] = str(work / "mnt")
    return env


def arm(lab: Any, crash: Crash, work: Path) -> None:
    """For an API crash: the lab endpoint sets the callback off when it has made the next `crash.api`
    resource, and answers only once the controller is dead."""
    if not crash.api:
        return
    trigger = _trigger(work)
    for stale in (trigger, Path(f"{trigger}.pid")):
        stale.unlink(missing_ok=True)

    def kill_the_controller() -> None:
        pid = int(Path(f"{trigger}.pid").read_text(encoding="utf-8"))
        trigger.write_text(f"once the lab had made the {crash.api} resource\n", encoding="utf-8")
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    lab.faults.after(crash.api, kill_the_controller, calls=crash.calls, matching=crash.request)


def killed_lines(work: Path) -> list[str]:
    log = work / "crash.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def _trigger(work: Path) -> Path:
    return work / "crash.trigger"


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for pytest to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
