"""A Debian PV guest whose initramfs is built by Debian's dracut package (which replaces initramfs-tools),
as admins used to RHEL set up their Debian machines, with two kernels.

The roles must take the initramfs tool the image has installed, not the one Debian usually has: the
drivers go into a dracut drop-in (generic, not host-only), not into an initramfs-tools modules file the
image has no use for, and dracut rebuilds the initramfs of EACH kernel with xen-blkfront, nvme, the root
filesystem's driver (xfs) and ena inside, as the image's own lsinitrd lists them, each one that the kernel
has as a module (a driver built into the kernel, as nvme is in Debian's cloud kernels, needs no module).
Then the image boots on IDE and NVMe through the dracut initramfs. The unconverted image does not boot
(negative control).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from tests.integration.guest.conftest import boots_as_hvm, convert_image
from tests.lab.bootcheck import boot
from tests.lab.images import PVImageSpec, build_pv_image
from tests.lab.system import loop_device, mounted, run, sha256_file

pytestmark = [pytest.mark.root, pytest.mark.qemu]

# xfs: the root filesystem's driver is a module in Debian's cloud kernels (ext4 and nvme are built in).
DRACUT_GUEST = PVImageSpec(size_mib=1024, data_device="", initramfs="dracut", fstype="xfs")
DRIVERS = ("xen_blkfront", "nvme", "xfs", "ena")


def lsinitrd_modules(root: Path, kernel: str) -> set[str]:
    """Module names in `kernel`'s initramfs of the mounted image `root`, as the image's own lsinitrd lists them."""
    with contextlib.ExitStack() as stack:
        for path, argv in (("dev", ["--bind", "/dev"]), ("proc", ["-t", "proc", "proc"]), ("tmp", ["-t", "tmpfs", "tmpfs"])):
            run(["mount", *argv, str(root / path)])
            stack.callback(run, ["umount", str(root / path)])
        listing = run(["chroot", str(root), "lsinitrd", f"/boot/initrd.img-{kernel}"])
    names = {re.sub(r"\.ko(\.\w+)?$", "", Path(line.split()[-1]).name).replace("-", "_")
             for line in listing.splitlines() if line.split() and ".ko" in line.split()[-1]}
    assert names, f"lsinitrd listed no modules for {kernel}:\n{listing[-3000:]}"
    return names


def test_dracut_guest_gets_the_drivers_into_each_kernels_initramfs_and_boots(tmp_path: Path) -> None:
    image = build_pv_image(DRACUT_GUEST)
    assert len(image.kernel_versions) == 2, image.kernel_versions

    unconverted = boot(image.disk, "nvme", log_dir=tmp_path / "boot-unconverted")
    assert not unconverted.booted and unconverted.reason.startswith("no bootable device: "), unconverted.reason

    dest = tmp_path / "hvm.img"
    convert_image(image.disk, dest, tmp_path / "convert_image.log")

    with loop_device(dest, partitions=True) as device, mounted(f"{device}p1") as root:
        fs_uuid = run(["blkid", "-p", "-s", "UUID", "-o", "value", f"{device}p1"]).strip()
        assert not (root / "usr/sbin/mkinitramfs").exists(), "the dracut guest has initramfs-tools"
        assert not (root / "etc/initramfs-tools/modules").exists(), "initramfs-tools' modules file written into a dracut guest"
        config = (root / "etc/dracut.conf.d/90-pv2hvm.conf").read_text(encoding="utf-8")
        assert 'hostonly="no"' in config, config
        configured = set(re.search(r'add_drivers\+="([^"]*)"', config).group(1).split())
        for kernel in image.kernel_versions:
            inside = lsinitrd_modules(root, kernel)
            modules = {re.sub(r"\.ko(\.\w+)?$", "", path.name).replace("-", "_") for path in (root / "lib/modules" / kernel).rglob("*.ko*")}
            builtin = {Path(line).name.removesuffix(".ko").replace("-", "_")
                       for line in (root / "lib/modules" / kernel / "modules.builtin").read_text(encoding="utf-8").split()}
            assert {"xen_blkfront", "xfs"} <= modules, f"{kernel}: xen-blkfront and xfs are not modules here; the test proves nothing"
            for driver in DRIVERS:
                assert driver in builtin or driver in modules, f"{kernel} has no {driver} at all"
                assert driver in builtin or driver in inside, f"{kernel}: the module {driver} is not in its initramfs"
        assert {"xen-blkfront", "xfs", "ena"} <= configured, config
        assert sha256_file(root / f"boot/initrd.img-{image.kernel_version}") != sha256_file(image.initrd), \
            "the newest kernel's initramfs was not rebuilt"

    for result in boots_as_hvm(dest, image, fs_uuid, tmp_path).values():
        assert result.probe["init"] == "systemd", result.probe["init"]
