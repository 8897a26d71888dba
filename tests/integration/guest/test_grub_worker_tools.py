"""The worker-GRUB path needs udevadm: grub-install asks `udevadm info` where a partition starts.

Without it, `grub-install --boot-directory=<mnt>/boot /dev/loopN` fails with "cannot find a GRUB drive
for /dev/loopNp1" (what a fresh machine of this kind showed). grub_install must refuse such a worker
before writing anything, naming the package; this test hides udevadm from the role's PATH.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.guest.conftest import VENV_BIN, ansible_env
from tests.lab.images import PVImage
from tests.lab.system import loop_device, mounted, run

pytestmark = pytest.mark.root

PLAYBOOK = """\
- name: Run grub_install with the worker's GRUB
  hosts: localhost
  connection: local
  gather_facts: false
  environment:
    PATH: "{{ tools_path }}"
  roles:
    - role: cloudops.pv2hvm.grub_install
      grub_install_root: "{{ target }}"
      grub_install_device: "{{ disk }}"
"""


def path_without(tool: str, directory: Path) -> str:
    """A PATH of links to every program in the usual directories except `tool`."""
    directory.mkdir()
    for source in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        for entry in sorted(Path(source).iterdir()) if Path(source).is_dir() else []:
            link = directory / entry.name
            if entry.name != tool and not link.exists() and os.access(entry, os.X_OK):
                link.symlink_to(entry)
    return f"{VENV_BIN}:{directory}"


def test_worker_without_udevadm_is_refused_before_grub_is_written(pv_image: PVImage, tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    run(["truncate", f"--size={pv_image.disk.stat().st_size + 64 * 1024 * 1024}", str(disk)])
    run(["sfdisk", "--quiet", str(disk)], stdin="start=2048, type=83, bootable\n")
    playbook = tmp_path / "grub.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    tools = path_without("udevadm", tmp_path / "bin")
    with loop_device(disk, partitions=True) as device:
        run(["dd", f"if={pv_image.disk}", f"of={device}p1", "bs=4M", "conv=sparse", "status=none"])
        run(["tune2fs", "-U", "random", f"{device}p1"])
        with open(device, "rb") as handle:
            mbr_before = handle.read(440)
        with mounted(f"{device}p1") as root:
            process = subprocess.run(
                [str(VENV_BIN / "ansible-playbook"), str(playbook), "-e", f"target={root}", "-e", f"disk={device}",
                 "-e", f"tools_path={tools}"],
                env=ansible_env(), capture_output=True, text=True, timeout=600, check=False)
            assert not (root / "boot/grub/i386-pc").exists(), "GRUB's modules were written"
        with open(device, "rb") as handle:
            assert handle.read(440) == mbr_before, "the MBR was written"
    assert process.returncode != 0
    assert "udevadm (udev, or systemd-udev), which grub-install needs to find partitions" in process.stdout, process.stdout[-3000:]
    assert "Nothing was changed." in process.stdout
