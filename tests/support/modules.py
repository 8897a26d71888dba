"""Run this collection's modules the way ansible runs them: one interpreter per call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_PATH = REPO_ROOT / ".build" / "collections"
MODULES_DIR = REPO_ROOT / "plugins" / "modules"
CAPTURE_SITE = REPO_ROOT / "tests" / "lab" / "capture_site"


class ModuleResult(dict):
    """The JSON a module printed, plus its exit code and stderr for failure messages."""

    rc: int = 0
    stderr: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.get("failed"))

    @property
    def changed(self) -> bool:
        return bool(self.get("changed"))

    @property
    def warnings(self) -> list[str]:
        """Warning texts (ansible-core 2.19 reports each as a structured WarningSummary)."""
        return [w["event"]["msg"] if isinstance(w, dict) else str(w) for w in self.get("warnings", [])]


def module_env(extra: dict[str, str] | None = None, capture_file: str | None = None) -> dict[str, str]:
    """Environment for a module process: the checkout importable as cloudops.pv2hvm."""
    env = dict(os.environ)
    paths = [str(COLLECTIONS_PATH)]
    if capture_file:
        paths.insert(0, str(CAPTURE_SITE))
        env["PV2HVM_CAPTURE_FILE"] = capture_file
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra or {})
    return env


def run_module(
    name: str,
    args: dict[str, Any],
    *,
    check_mode: bool = False,
    diff: bool = False,
    env: dict[str, str] | None = None,
    capture_file: str | None = None,
    timeout: float = 600,
) -> ModuleResult:
    """Run plugins/modules/<name>.py with `args` and return what it reported."""
    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": module_args}, handle)
        args_path = handle.name
    try:
        process = subprocess.run(
            [sys.executable, str(MODULES_DIR / f"{name}.py"), args_path],
            env=module_env(env, capture_file), capture_output=True, text=True, timeout=timeout, check=False,
        )
    finally:
        os.unlink(args_path)
    result = ModuleResult(_last_json_object(process.stdout, process.stderr))
    result.rc = process.returncode
    result.stderr = process.stderr
    return result


def _last_json_object(stdout: str, stderr: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError(f"the module printed no JSON result.\nstdout:\n{stdout}\nstderr:\n{stderr}")
