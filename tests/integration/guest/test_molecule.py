"""The molecule scenarios of the guest roles, run as `make test` runs everything: for real, as root."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.integration.guest.conftest import REPO_ROOT, VENV_BIN, ansible_env

pytestmark = pytest.mark.root


@pytest.mark.parametrize("scenario", ["boot_config", "grub_install"])
def test_molecule_scenario(scenario: str) -> None:
    process = subprocess.run([str(VENV_BIN / "molecule"), "test", "-s", scenario], cwd=REPO_ROOT, env=ansible_env(),
                             capture_output=True, text=True, timeout=1200, check=False)
    output = re.sub(r"\x1b\[[0-9;]*m", "", process.stdout + process.stderr)
    assert process.returncode == 0, output[-8000:]
    for action in ("create", "converge", "idempotence", "verify", "destroy"):
        # molecule writes "scenario ➜ action" on a terminal and "scenario > action" otherwise.
        assert re.search(rf"{scenario} (?:\u279c|>) {action}: Executed: Successful", output), f"{action}:\n{output[-4000:]}"
    assert re.search(rf"{scenario}\s+: actions=7\s+successful=7\s.*failed=0", output), output[-4000:]
