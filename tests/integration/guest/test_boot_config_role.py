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


def keep_one_kernel(root: Path) -> str:
    """Remove all but one of the lab image's kernels (it has two); return the one kept."""
    version, *others = sorted(path.name.removeprefix("vmlinuz-") for path in (root / "boot").glob("vmlinuz-*"))
    for other in others:
        for path in (root / "boot").glob(f"*-{other}"):
            path.unlink()
        shutil.rmtree(root / "lib/modules" / other)
    return version


def test_refuses_an_image_with_only_xen_pv_kernels(pv_copy: Path, tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path)
    with loop_device(pv_copy) as device, mounted(device) as root:
        # A Debian 5 "-xen-amd64" PV guest has one kernel, a xenlinux one: keep one of the lab image's
        # kernels and turn it into that; its build configuration (not its name) says it boots only as Xen PV.
        version = keep_one_kernel(root)
        pv_only = "2.6.26-2-xen-amd64"
        (root / "boot" / f"vmlinuz-{version}").rename(root / f"boot/vmlinuz-{pv_only}")
        (root / "boot" / f"config-{version}").rename(root / f"boot/config-{pv_only}")
        with open(root / f"boot/config-{pv_only}", "a", encoding="utf-8") as config:
            config.write("CONFIG_X86_64_XEN=y\n")
        shutil.move(str(root / "lib/modules" / version), str(root / f"lib/modules/{pv_only}"))
        before = tree_digest(root, WATCHED)
        process = run_playbook(playbook, {"target": str(root)}, log=tmp_path / "refuse.log")
        after = tree_digest(root, WATCHED)
    assert process.returncode != 0
    assert f"only Xen-PV-only kernels: {pv_only} - CONFIG_X86_64_XEN=y in /boot/config-{pv_only}" in process.stdout, \
        process.stdout[-3000:]
    assert "linux-image-cloud-amd64" in process.stdout and "Nothing was changed" in process.stdout
    assert before == after


def test_debian6_pvops_xen_kernel_is_not_refused_and_boots_by_default(pv_copy: Path, tmp_path: Path) -> None:
    """Debian 6's 2.6.32-5-xen-amd64 is pvops (CONFIG_XEN, no CONFIG_X86_64_XEN): it boots as HVM."""
    playbook = write_playbook(tmp_path)
    with loop_device(pv_copy) as device, mounted(device) as root:
        version = keep_one_kernel(root)  # a Debian 6 guest with its one kernel
        pvops = "2.6.32-5-xen-amd64"
        for name in ("vmlinuz", "config", "initrd.img"):
            (root / "boot" / f"{name}-{version}").rename(root / f"boot/{name}-{pvops}")
        shutil.move(str(root / "lib/modules" / version), str(root / f"lib/modules/{pvops}"))
        process = run_playbook(playbook, {"target": str(root)}, check=True, log=tmp_path / "pvops.log")
    assert process.returncode == 0, process.stdout[-5000:] + process.stderr
    assert f"boots by default: {pvops}" in process.stdout


# Ubuntu 12.04's PV console job, as its EC2 images ship it.
UPSTART_HVC0 = """# hvc0 - getty
#
# This service maintains a getty on hvc0 from the point the system is
# started until it is shut down again.

start on stopped rc RUNLEVEL=[2345]
stop on runlevel [!2345]

respawn
exec /sbin/getty -8 38400 hvc0
"""


def test_selinux_guest_gets_a_relabel_and_an_upstart_console_a_serial_job(pv_copy: Path, tmp_path: Path) -> None:
    """Configuration-tested: an enforcing SELinux configuration and an Upstart hvc0 job, added to the lab image."""
    playbook = write_playbook(tmp_path)
    with loop_device(pv_copy) as device, mounted(device) as root:
        (root / "etc/selinux").mkdir(parents=True, exist_ok=True)
        (root / "etc/selinux/config").write_text("SELINUX=enforcing\nSELINUXTYPE=targeted\n", encoding="utf-8")
        (root / "etc/init").mkdir(parents=True, exist_ok=True)
        (root / "etc/init/hvc0.conf").write_text(UPSTART_HVC0, encoding="utf-8")
        process = run_playbook(playbook, {"target": str(root)}, log=tmp_path / "selinux.log")
        relabel = (root / ".autorelabel").is_file()
        serial_job = (root / "etc/init/ttyS0.conf").read_text(encoding="utf-8") if (root / "etc/init/ttyS0.conf").exists() else ""
        pv_job = (root / "etc/init/hvc0.conf").read_text(encoding="utf-8")
    assert process.returncode == 0, process.stdout[-5000:] + process.stderr
    assert relabel, "no /.autorelabel for an enforcing guest"
    assert "exec /sbin/getty -8 115200 ttyS0" in serial_job and "hvc0" not in serial_job, serial_job
    assert "start on stopped rc RUNLEVEL=[2345]" in serial_job and pv_job == UPSTART_HVC0
