"""boot_config's check mode and its refusal of Xen-PV-only kernels, on copies of the lab PV image."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.guest.conftest import run_playbook
from tests.lab.system import sha256_file
from tests.lab.system import loop_device, mounted

pytestmark = pytest.mark.root

PLAYBOOK = """\
- name: Run boot_config
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: cloudops.pv2hvm.boot_config
      boot_config_root: "{{ target }}"
"""


def write_playbook(directory: Path) -> str:
    path = directory / "boot_config.yml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    return str(path)


def tree_digest(root: Path, names: list[str]) -> dict[str, str]:
    return {name: sha256_file(root / name) for name in names if (root / name).is_file()}


WATCHED = ["etc/fstab", "boot/grub/menu.lst", "etc/initramfs-tools/modules", "etc/default/grub"]


def test_check_mode_shows_the_diff_and_writes_nothing(pv_copy: Path, tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path)
    with loop_device(pv_copy) as device, mounted(device) as root:
        before = tree_digest(root, WATCHED)
        initrd_before = {path.name: sha256_file(path) for path in (root / "boot").glob("initrd.img-*")}
        process = run_playbook(playbook, {"target": str(root)}, check=True, log=tmp_path / "check.log")
        after = tree_digest(root, WATCHED)
        initrd_after = {path.name: sha256_file(path) for path in (root / "boot").glob("initrd.img-*")}
        hvc0_link = (root / "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service").is_symlink()
        backups = list((root / "etc").glob("fstab.*~"))
    assert process.returncode == 0, process.stdout[-5000:] + process.stderr
    assert before == after and initrd_before == initrd_after and hvc0_link and not backups
    assert "-/dev/xvde1\t/\text4" in process.stdout and "+UUID=" in process.stdout, "the --diff of fstab is missing"
    assert "+GRUB_CMDLINE_LINUX=" in process.stdout


def test_refuses_an_image_with_only_xen_pv_kernels(pv_copy: Path, tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path)
    with loop_device(pv_copy) as device, mounted(device) as root:
        # Turn the only kernel into a Xen-PV-only flavour, as on a Debian 6 "-xen-amd64" PV guest.
        version = next((root / "boot").glob("vmlinuz-*")).name.removeprefix("vmlinuz-")
        (root / "boot" / f"vmlinuz-{version}").rename(root / "boot/vmlinuz-2.6.32-5-xen-amd64")
        shutil.move(str(root / "lib/modules" / version), str(root / "lib/modules/2.6.32-5-xen-amd64"))
        before = tree_digest(root, WATCHED)
        process = run_playbook(playbook, {"target": str(root)}, log=tmp_path / "refuse.log")
        after = tree_digest(root, WATCHED)
    assert process.returncode != 0
    assert "only Xen-PV-only kernels: 2.6.32-5-xen-amd64" in process.stdout, process.stdout[-3000:]
    assert "linux-image-cloud-amd64" in process.stdout and "Nothing was changed" in process.stdout
    assert before == after
