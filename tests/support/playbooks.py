"""Run playbooks of this collection with ansible-playbook, as a user would, and read the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.modules import REPO_ROOT, module_env

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def stats(self) -> dict[str, dict[str, int]]:
        return self.result.get("stats", {})

    def total(self, counter: str) -> int:
        return sum(host.get(counter, 0) for host in self.stats.values())

    def task_results(self, task_name: str) -> list[dict[str, Any]]:
        """The per-host results of every task with this name, in run order."""
        found = []
        for play in self.result.get("plays", []):
            for task in play.get("tasks", []):
                if task["task"]["name"] == task_name:
                    found.extend(task["hosts"].values())
        return found

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported a change on any host, in run order."""
        return [
            task["task"]["name"]
            for play in self.result.get("plays", [])
            for task in play.get("tasks", [])
            if any(host.get("changed") for host in task["hosts"].values())
        ]

    def failures(self) -> list[str]:
        """'task [host]: message' for every failed or rescued task result."""
        found = []
        for play in self.result.get("plays", []):
            for task in play.get("tasks", []):
                for host, result in task["hosts"].items():
                    if result.get("failed"):
                        found.append(f"{task['task']['name']} [{host}]: {str(result.get('msg', ''))[:6000]}")
        return found

    def explain(self) -> str:
        failed = "\n".join(self.failures())
        return f"rc={self.rc}\nfailed tasks:\n{failed}\n--- stderr:\n{self.stderr[-3000:]}"


def run_playbook(
    playbook: str | Path,
    extra_vars: dict[str, Any] | None = None,
    *,
    env: dict[str, str] | None = None,
    capture_file: str | None = None,
    check: bool = False,
    inventory: str | Path | None = None,
    timeout: float = 1800,
    python_interpreter: str | None = sys.executable,
    own_session: bool = False,
) -> PlaybookRun:
    """ansible-playbook with the JSON callback; the checkout is the collection cloudops.pv2hvm.

    Without an inventory, every host runs locally ("-i localhost, -c local"). Every host uses
    `python_interpreter` (an extra var) unless it is None: then the inventory's interpreters apply."""
    command = [str(ANSIBLE_PLAYBOOK), str(playbook)]
    command += ["-i", str(inventory)] if inventory else ["-i", "localhost,", "-c", "local"]
    interpreter = {"ansible_python_interpreter": python_interpreter} if python_interpreter else {}
    command += ["-e", json.dumps({**interpreter, **(extra_vars or {})})]
    if check:
        command.append("--check")
    run_env = module_env(env, capture_file)
    run_env.update(
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCAL_TEMP=os.environ.get("TMPDIR", "/tmp"),
    )
    if own_session:
        returncode, stdout, stderr = _run_in_own_session(command, run_env, timeout)
    else:
        process = subprocess.run(command, cwd=REPO_ROOT, env=run_env, capture_output=True, text=True, timeout=timeout, check=False)
        returncode, stdout, stderr = process.returncode, process.stdout, process.stderr
    try:
        result = json.loads(stdout[stdout.index("{"):])
    except ValueError:
        result = {}
    _keep_result(playbook, stdout)
    return PlaybookRun(returncode, stdout, stderr, result)


def _keep_result(playbook: str | Path, stdout: str) -> None:
    """With PV2HVM_PLAYBOOK_RESULTS set to a directory, every run's JSON result is kept there, for
    `python -m tests.support.task_profile` (task counts and durations)."""
    keep = os.environ.get("PV2HVM_PLAYBOOK_RESULTS")
    if not keep:
        return
    directory = Path(keep)
    directory.mkdir(parents=True, exist_ok=True)
    handle, _name = tempfile.mkstemp(prefix=f"{Path(playbook).stem}-", suffix=".json", dir=directory)
    with os.fdopen(handle, "w", encoding="utf-8") as kept:
        kept.write(stdout[stdout.find("{"):])


def _run_in_own_session(command: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, str]:
    """ansible-playbook in a session of its own, its output in files: a test may kill its process group
    (not pytest's), and the run is over when ansible-playbook is, even while a worker it left runs on."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=err, start_new_session=True)  # pylint: disable=consider-using-with
        returncode = process.wait(timeout=timeout)
        out.seek(0)
        err.seek(0)
        return returncode, out.read(), err.read()
