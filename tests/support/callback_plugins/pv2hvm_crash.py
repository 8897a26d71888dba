# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: SIGKILL the controller when a named task is about to start, as a crash would.

PV2HVM_CRASH_AT is the task's name (as written, without the role prefix); PV2HVM_CRASH_MODE is
"tree" (ansible-playbook and every process under it, as when the controller machine dies) or
"group" (its process group only: ansible-core 2.19 runs each worker in its own session, so a task
in flight runs on, as on a remote worker). By default the kill comes before the task's workers start,
so what the crash leaves is exactly what the tasks before it made. With PV2HVM_CRASH_IN_CHROOT (a
directory) it comes once the task runs a process whose root is below that directory, i.e. while the
task is running in the image's chroot; the log line names that process.

With PV2HVM_CRASH_TRIGGER (a file path) the kill comes when a test creates that file: the lab
endpoint does so once it has made a resource and before it answers (tests/support/crash.py), so
the controller dies in the middle of an AWS step. The callback writes its pid to "<path>.pid"."""

from __future__ import annotations

import os
import signal
import threading
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: pv2hvm_crash
type: aggregate
short_description: kill the controller when a task starts (tests only)
description: Kills ansible-playbook with SIGKILL when the task named in PV2HVM_CRASH_AT starts.
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "pv2hvm_crash"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):  # noqa: ARG002 (Ansible's signature)
        trigger = os.environ.get("PV2HVM_CRASH_TRIGGER")
        if trigger:
            with open(f"{trigger}.pid", "w", encoding="utf-8") as handle:
                handle.write(str(os.getpid()))
            threading.Thread(target=_crash_on_trigger, args=(trigger,), daemon=True).start()

    def v2_playbook_on_task_start(self, task, is_conditional):  # noqa: ARG002 (Ansible's signature)
        if not os.environ.get("PV2HVM_CRASH_AT") or task.name != os.environ["PV2HVM_CRASH_AT"]:
            return
        if os.environ.get("PV2HVM_CRASH_IN_CHROOT"):
            threading.Thread(target=_crash_once_chrooted, args=(task.name, os.environ["PV2HVM_CRASH_IN_CHROOT"]), daemon=True).start()
        else:
            _crash(task.name)


def _chrooted_process(base: str) -> str:
    """'<pid> <command line>' of a process whose root is below `base`, or ''."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            root = os.readlink(f"/proc/{entry}/root")
            if root.startswith(base.rstrip("/") + "/"):
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
                return f"{entry} {command}"
        except OSError:
            continue
    return ""


def _crash_once_chrooted(task_name: str, base: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = _chrooted_process(base)
        if found:
            _crash(task_name, f"while {found} ran in the chroot")
        time.sleep(0.05)
    _crash(task_name, "no process ever ran in the chroot")


def _crash_on_trigger(trigger: str) -> None:
    while not os.path.exists(trigger):
        time.sleep(0.02)
    with open(trigger, encoding="utf-8") as handle:
        _crash("", handle.read().strip())


def _crash(task_name: str, when: str = "as it started") -> None:
    mode = os.environ.get("PV2HVM_CRASH_MODE", "tree")
    with open(os.environ.get("PV2HVM_CRASH_LOG", os.devnull), "a", encoding="utf-8") as log:
        log.write(f"killed at {task_name!r} ({mode}) {when}\n" if task_name else f"killed ({mode}) {when}\n")
    if mode == "tree":
        for pid in _descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.kill(os.getpid(), signal.SIGKILL)
    os.killpg(os.getpgid(0), signal.SIGKILL)
