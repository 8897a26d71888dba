"""The lab's sshd (tests/lab/sshd.py): loopback only, root by the run's key only, nothing left afterwards."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.lab.sshd import LOOPBACK, LabSshd, descendants, running

pytestmark = [pytest.mark.root]


def ssh(sshd: LabSshd, *options: str, command: str = "id -u") -> subprocess.CompletedProcess[str]:
    host = sshd.inventory_host()
    return subprocess.run(["ssh", "-p", str(sshd.port), *host["ansible_ssh_common_args"].split(), "-o", "BatchMode=yes",
                           *options, f"root@{LOOPBACK}", command], capture_output=True, text=True, timeout=60, check=False)


def test_root_logs_in_with_the_run_key_and_host_key_checking_on() -> None:
    with LabSshd() as sshd:
        result = ssh(sshd, "-i", str(sshd.client_key))
        assert result.returncode == 0 and result.stdout.strip() == "0", result.stderr
        assert f"Accepted publickey for root from {LOOPBACK}" in sshd.log()
        assert sshd.client_fingerprint() in sshd.log()
        listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
        assert [line.split()[3] for line in listening.splitlines() if f":{sshd.port} " in line] == [f"{LOOPBACK}:{sshd.port}"]


def test_no_key_means_no_login(tmp_path: Path) -> None:
    """No password, no keyboard-interactive: only the run's key opens it."""
    with LabSshd() as sshd:
        result = ssh(sshd, "-o", "IdentitiesOnly=yes", "-i", str(tmp_path / "absent"), "-o", "PubkeyAuthentication=no")
        assert result.returncode == 255
        assert "Permission denied" in result.stderr


def test_stop_ends_open_connections_and_removes_its_files(tmp_path: Path) -> None:
    sshd = LabSshd().start()
    try:
        control = tmp_path / "control"
        result = ssh(sshd, "-i", str(sshd.client_key), "-o", "ControlMaster=auto", "-o", "ControlPersist=300",
                     "-o", f"ControlPath={control}")
        assert result.returncode == 0, result.stderr
        assert sshd.process is not None
        connections = descendants(sshd.process.pid)
        assert connections, "the persistent connection has no sshd process"
        directory = sshd.directory
    finally:
        sshd.stop()
    # An ended connection may linger as a zombie until PID 1 reaps it; it must not run.
    assert not [pid for pid in connections if running(pid)]
    assert not directory.exists()
    sshd.stop()  # twice is fine
