"""The migration with its worker reached over SSH: the lab's sshd on 127.0.0.1, root by key, become through sudo.

The worker-side modules and roles (block_device, disk_clone, boot_config, grub_install) run on the
worker's own /usr/bin/python3 through a real SSH connection, as on an EC2 worker; the controller's AWS
steps stay on localhost.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.lab.bootcheck import boot
from tests.lab.demo import PLAYBOOK, migration_vars, write_inventory
from tests.lab.sshd import LabSshd
from tests.lab.world import register_lab_worker
from tests.support.playbooks import run_playbook

pytestmark = [pytest.mark.root, pytest.mark.qemu]

WORKER = "worker"
SOURCE_HOST = "source-over-ssh"
SESSION = "Starting session: command for root from 127.0.0.1"


@pytest.fixture
def sshd() -> Iterator[LabSshd]:
    """The lab's sshd for this test; stopped and its temp dir removed even when the test fails."""
    with LabSshd() as server:
        yield server


def test_worker_over_ssh_migrates_and_the_image_boots_on_nvme(migration_lab: Any, sshd: LabSshd) -> None:
    source = migration_lab.pv_instance("legacy-web-ssh")
    worker = register_lab_worker(migration_lab.lab)
    work: Path = migration_lab.work
    # The source's own host (pv2hvm_source_hosts) is this machine over the same sshd: a supported guest, read
    # with raw over SSH (a tty, CRLF lines) before anything is created, lets the migration go on.
    inventory = write_inventory(work, workers={WORKER: sshd.inventory_host(), SOURCE_HOST: sshd.inventory_host()})
    ansible_log = work / "ansible.log"
    # ansible skips become when the SSH user already is the become user: allow it, so sudo really runs.
    env = {**migration_lab.lab.env(), "ANSIBLE_LOG_PATH": str(ansible_log), "ANSIBLE_LOG_VERBOSITY": "3",
           "ANSIBLE_BECOME_ALLOW_SAME_USER": "1"}
    extra_vars = migration_vars(migration_lab.lab, work, [source], pv2hvm_worker_instance_id=worker, pv2hvm_worker_host=WORKER,
                                pv2hvm_source_hosts={source: SOURCE_HOST})
    # No interpreter for every host: the worker's own (/usr/bin/python3) comes from its inventory entry.
    run = run_playbook(PLAYBOOK, extra_vars, env=env, inventory=inventory, python_interpreter=None,
                       capture_file=str(work / "requests.jsonl"))
    assert run.rc == 0, run.explain() + "\n--- sshd log:\n" + sshd.log()[-3000:]
    report = migration_lab.report(source)
    assert report["status"] == "succeeded", report

    # The worker's tasks went through this sshd, authenticated by the run's key, as root.
    log = sshd.log()
    assert "Accepted publickey for root from 127.0.0.1 port " in log
    assert sshd.client_fingerprint() in log
    assert log.count(SESSION) >= 10, log[-3000:]
    # ansible says so too: the migration's worker host used the ssh connection to that port.
    ansible = ansible_log.read_text(encoding="utf-8")
    assert "ESTABLISH SSH CONNECTION FOR USER: root" in ansible
    assert f"-o Port={sshd.port}" in ansible
    # Each worker module ran through sudo on the worker's own Python.
    assert re.search(r"<127\.0\.0\.1> SSH: EXEC ssh .*sudo -H -S -n +-u root .*/usr/bin/python3", ansible)
    [release] = run.task_results("cloudops.pv2hvm.pv2hvm : Read the running source's release files through its own connection")
    assert "==> os-release" in release["stdout"] and "ID=" in release["stdout"], release
    [found] = run.task_results("cloudops.pv2hvm.pv2hvm : Find the working copy on the worker")
    assert found["device"].startswith("/dev/loop"), found

    # The AMI's root boots on NVMe, as on Nitro.
    result = boot(migration_lab.root_disk_of_image(report["image"]["image_id"]), "nvme", log_dir=work / "boot")
    assert result.booted, result.tail()
