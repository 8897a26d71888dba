"""The kernel GRUB boots, chosen as virt-v2v chooses it, on a copy of the lab image with more kernels.

Besides the image's two real kernels (6.1.0-50 and 6.1.0-47-cloud-amd64 today) the test adds copies of its vmlinuz,
initrd, config and module tree under other versions: two older ones whose string order is wrong
(6.1.0-9 sorts above 6.1.0-50 as a string), a newer one whose build configuration has
CONFIG_X86_64_XEN=y (Xen-PV-only), and a newer -debug one. The real kernel must be the default, so
the boot check boots a real kernel.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils.grub_menu import default_kernel
from tests.lab import bootcheck
from tests.lab.images import PVImage
from tests.lab.packages import lab_package_vars
from tests.support.loopdev import MIB, LoopDevices, blkid, sh
from tests.support.playbooks import run_playbook

pytestmark = pytest.mark.root

OLDER = ["6.1.0-9-cloud-amd64", "6.1.0-10-cloud-amd64"]
PV_ONLY = "6.1.0-70-cloud-amd64"
DEBUG = "6.1.0-60-cloud-amd64-debug"

PLAYBOOK = """\
- name: Convert the boot configuration and install GRUB
  hosts: all
  gather_facts: false
  tasks:
    - name: Rewrite the boot configuration
      ansible.builtin.include_role:
        name: cloudops.pv2hvm.boot_config
      vars:
        boot_config_root: "{{ target }}"
        boot_config_initramfs_rebuild: never  # the added kernels' initrds are copies; nothing to learn from rebuilding them
      when: with_boot_config | bool

    - name: Install GRUB
      ansible.builtin.include_role:
        name: cloudops.pv2hvm.grub_install
      vars:
        grub_install_root: "{{ target }}"
        grub_install_device: "{{ device }}"
        grub_install_install_packages: "{{ install_packages | bool }}"
        grub_install_package_mirror: "{{ pv2hvm_package_mirror | default({}) }}"
        grub_install_package_mirror_trusted: "{{ pv2hvm_package_mirror_trusted | default(false) }}"

    - name: Show the chosen kernel
      ansible.builtin.debug:
        msg: "{{ grub_install_default_kernel }}"

    - name: Show the kernel inspection
      ansible.builtin.debug:
        msg: "{{ guest_target_kernels }}"
"""


@pytest.fixture
def lab_disk(pv_image: PVImage, tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    """The lab image's filesystem in partition 1 of an MBR disk (new UUID), mounted: (disk, device, root)."""
    loops = LoopDevices(tmp_path)
    try:
        disk = loops.image("disk.img", pv_image.disk.stat().st_size + 512 * MIB)
        sh("sfdisk", "--quiet", str(disk), stdin="start=2048, type=83, bootable\n")
        device = loops.attach(disk)
        partition = loops.partition(device, 1)
        sh("dd", f"if={pv_image.disk}", f"of={partition}", "bs=4M", "conv=sparse", "status=none")
        sh("e2fsck", "-f", "-y", partition)
        sh("tune2fs", "-U", "random", partition)
        root = loops.mount(partition)
        add_kernels(root, pv_image.kernel_version)
        yield disk, device, root
    finally:
        loops.close()


def add_kernels(root: Path, real: str) -> None:
    """Copies of the real kernel under the test's versions; the PV-only one's config says CONFIG_X86_64_XEN=y."""
    boot = root / "boot"
    for version in OLDER + [PV_ONLY, DEBUG]:
        shutil.copy2(boot / f"vmlinuz-{real}", boot / f"vmlinuz-{version}")
        shutil.copy2(boot / f"initrd.img-{real}", boot / f"initrd.img-{version}")
        config = (boot / f"config-{real}").read_text(encoding="utf-8")
        if version == PV_ONLY:
            config += "CONFIG_X86_64_XEN=y\n"
        (boot / f"config-{version}").write_text(config, encoding="utf-8")
        sh("cp", "-a", "--link", str(root / "lib/modules" / real), str(root / "lib/modules" / version))


def convert(tmp_path: Path, device: str, root: Path, *, with_boot_config: bool, install_packages: bool):
    playbook = tmp_path / "convert.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    run = run_playbook(playbook, {"target": str(root), "device": device, "with_boot_config": with_boot_config,
                                  "install_packages": install_packages, **lab_package_vars()})
    assert run.rc == 0, run.explain()
    shown = run.task_results("Show the chosen kernel")
    return run, shown[0]["msg"] if shown else None


def inventory(run) -> dict:
    """The guest_target_kernels fact at the end of the run."""
    return run.task_results("Show the kernel inspection")[0]["msg"]


def menu_entries(grub_cfg: str) -> list[str]:
    """The kernel of each top-level menuentry, in order (submenus are skipped, as a plain count would not)."""
    return re.findall(r"(?m)^menuentry .*\{\n(?:\t.*\n)*?\s*linux\s+/boot/vmlinuz-(\S+)", grub_cfg)


def test_worker_grub_cfg_lists_hvm_kernels_newest_first_and_boots_the_newest_non_debug(
        lab_disk: tuple[Path, str, Path], pv_image: PVImage, tmp_path: Path) -> None:
    device, root = lab_disk[1:]
    real = pv_image.kernel_version
    run, chosen = convert(tmp_path, device, root, with_boot_config=False, install_packages=False)
    grub_cfg = (root / "boot/grub/grub.cfg").read_text(encoding="utf-8")
    entries = menu_entries(grub_cfg)
    assert chosen == real
    # Newest first by version: the debug copy (-60), the image's own two kernels (-50, -47), then the
    # copies whose string order is wrong (-10 above -9); never the PV-only one.
    assert entries == [DEBUG, *pv_image.kernel_versions, "6.1.0-10-cloud-amd64", "6.1.0-9-cloud-amd64"], grub_cfg
    index = int(re.search(r"(?m)^set default=(\d+)$", grub_cfg).group(1))
    assert entries[index] == real, grub_cfg
    assert PV_ONLY not in grub_cfg, "a Xen-PV-only kernel must not be in the HVM menu"
    assert default_kernel(grub_cfg) == real
    assert f"initrd /boot/initrd.img-{real}" in grub_cfg
    assert re.search(rf"linux /boot/vmlinuz-{re.escape(real)} root=UUID=\S+ ro .*nvme_core\.io_timeout=4294967295", grub_cfg)
    kernels = inventory(run)
    assert kernels["pv_only"] == [PV_ONLY] and kernels["debug"] == [DEBUG]
    assert kernels["kernels"][PV_ONLY]["pv_only_reason"] == f"CONFIG_X86_64_XEN=y in /boot/config-{PV_ONLY}"
    # The real bookworm kernel (>= 4.5) has nvme_core built in; modinfo reads its uint io_timeout
    # from modules.builtin.modinfo.
    assert kernels["kernels"][real]["nvme"] == {"driver": "builtin", "param": "nvme_core.io_timeout", "type": "uint",
                                                "max": 4294967295, "source": "modinfo nvme_core"}


@pytest.mark.qemu
def test_image_grub_mkconfig_puts_a_newer_kernel_first_and_grub_default_still_boots_the_chosen_one(
        lab_disk: tuple[Path, str, Path], pv_image: PVImage, tmp_path: Path) -> None:
    disk, device, root = lab_disk
    real = pv_image.kernel_version
    uuid = blkid(f"{device}p1")["UUID"]
    chosen = convert(tmp_path, device, root, with_boot_config=True, install_packages=True)[1]
    defaults = (root / "etc/default/grub").read_text(encoding="utf-8")
    grub_cfg = (root / "boot/grub/grub.cfg").read_text(encoding="utf-8")
    assert chosen == real
    # Debian's grub-mkconfig lists every vmlinuz, newest first: the PV-only kernel comes first, so
    # GRUB_DEFAULT pins the chosen kernel's entry.
    assert menu_entries(grub_cfg)[0] == PV_ONLY, grub_cfg
    assert f'GRUB_DEFAULT="gnulinux-advanced-{uuid}>gnulinux-{real}-advanced-{uuid}"' in defaults, defaults
    assert default_kernel(grub_cfg) == real
    sh("umount", str(root))  # the loop teardown would too; the boot check needs the disk quiet
    result = bootcheck.boot(disk, "ide", log_dir=tmp_path / "boot")
    assert result.booted, f"{result.reason}\n{result.tail()}"
    assert f"BOOT_IMAGE=/boot/vmlinuz-{real} " in str(result.probe.get("cmdline", "")), result.probe
