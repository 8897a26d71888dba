"""Fixtures for the AWS-side module tests: modules run in their own process against the lab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lab.capture import RequestLog
from tests.support.modules import ModuleResult, run_module


class ModuleRunner:
    """Runs a module against the lab endpoint and keeps every EC2 request it sent."""

    def __init__(self, lab: Any, capture_file: Path, env: dict[str, str] | None = None) -> None:
        self.lab = lab
        self.capture_file = capture_file
        self.env = env or {}

    def __call__(self, module_name: str, /, check_mode: bool = False, **args: Any) -> ModuleResult:
        params = dict(self.lab.module_params(), **args)
        return run_module(module_name, params, check_mode=check_mode, env=dict(self.lab.env(), **self.env),
                          capture_file=str(self.capture_file))

    def with_env(self, env: dict[str, str]) -> "ModuleRunner":
        """The same runner, its module processes given `env` too (e.g. a mark a test finds them by)."""
        return ModuleRunner(self.lab, self.capture_file, env)

    def requests(self, operation: str) -> list[dict[str, Any]]:
        return RequestLog.read(str(self.capture_file)).of(operation)

    def operations(self) -> set[str]:
        return {call[0] for call in RequestLog.read(str(self.capture_file)).calls}

    def forget_requests(self) -> None:
        self.capture_file.unlink(missing_ok=True)


@pytest.fixture
def module(lab: Any, ec2: Any, tmp_path: Path) -> ModuleRunner:  # pylint: disable=unused-argument
    """Run a module on a freshly reset lab (the `ec2` fixture resets it)."""
    return ModuleRunner(lab, tmp_path / "requests.jsonl")
