"""Guests the roles cannot convert are refused before anything is written, with their release named.

Each guest is a root tree built here with only what identifies it: its release files, a kernel and a
PV menu.lst. Both guest roles refuse it in their first step, and the tree is byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.integration.guest.conftest import run_playbook

PLAYBOOK = """\
- name: Run one guest role on a tree
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run the role
      ansible.builtin.include_role:
        name: "cloudops.pv2hvm.{{ role }}"
      vars:
        boot_config_root: "{{ target }}"
        grub_install_root: "{{ target }}"
        grub_install_device: /dev/loop0
"""

GUESTS = {
    "centos5": ({"etc/redhat-release": "CentOS release 5.11 (Final)\n"}, "2.6.18-398.el5xen",
                ["CentOS release 5.11 (Final)", "mkinitrd"]),
    "rhel5": ({"etc/redhat-release": "Red Hat Enterprise Linux Server release 5.11 (Tikanga)\n"}, "2.6.18-398.el5",
              ["Red Hat Enterprise Linux Server release 5.11 (Tikanga)", "mkinitrd"]),
    "sles12": ({"etc/os-release": 'NAME="SLES"\nVERSION_ID="12.5"\nID="sles"\nID_LIKE="suse"\n'
                                  'PRETTY_NAME="SUSE Linux Enterprise Server 12 SP5"\n'},
               "4.12.14-122.37-default", ["SUSE Linux Enterprise Server 12 SP5", "SUSE"]),
    "unrecognised": ({"etc/os-release": 'ID=gentoo\nPRETTY_NAME="Gentoo Linux"\n'}, "6.6.13-gentoo",
                     ["Gentoo Linux", "not a guest the roles know"]),
}


def build_tree(root: Path, release_files: dict[str, str], kernel: str) -> None:
    files = dict(release_files)
    files["etc/fstab"] = "/dev/xvde1 / ext3 defaults 1 1\n"
    files[f"boot/vmlinuz-{kernel}"] = "kernel\n"
    files["boot/grub/menu.lst"] = f"default 0\ntitle {kernel}\nroot (hd0)\nkernel /boot/vmlinuz-{kernel} root=/dev/xvde1 ro console=hvc0\n"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "lib/modules" / kernel).mkdir(parents=True)


def snapshot(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            for path in sorted(root.rglob("*"))}


# boot_config runs first in every conversion; grub_install refuses the same way on its own.
CASES = [(guest, "boot_config") for guest in GUESTS] + [("centos5", "grub_install")]


@pytest.mark.parametrize(("guest", "role"), CASES, ids=[f"{guest}-{role}" for guest, role in CASES])
def test_guest_is_refused_before_anything_is_written(guest: str, role: str, tmp_path: Path) -> None:
    release_files, kernel, words = GUESTS[guest]
    root = tmp_path / "root"
    build_tree(root, release_files, kernel)
    before = snapshot(root)
    playbook = tmp_path / "role.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    process = run_playbook(str(playbook), {"target": str(root), "role": role}, log=tmp_path / "run.log")
    output = process.stdout
    assert process.returncode != 0, output[-3000:]
    failed = [line for line in output.splitlines() if "Refuse a guest the roles cannot convert" in line]
    assert failed, output[-3000:]
    for word in words:
        assert word in output, output[-3000:]
    assert "Nothing was changed" in output
    assert snapshot(root) == before, "the refused guest was written"
