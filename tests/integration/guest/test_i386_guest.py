"""A 32-bit (i386) Debian PV guest with two 686-pae kernels, as the oldest PV fleets run them (Xen HVM
instance types run 32-bit AMIs).

convert_image.yml works on it from this amd64 machine: the chroot work (update-initramfs, installing
the image's own i386 grub-pc, grub-install, update-grub) runs the image's i386 binaries here. Then the
image boots as a 32-bit system (`uname -m` i686) on NVMe with its newest 686-pae kernel and an NVMe timeout
its 32-bit timers hold (IDE: covered by the bookworm boot of the same boot loader and initramfs tool,
tests/boot_matrix.py). The unconverted image does not boot (negative control).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.guest.conftest import boots_as_hvm, convert_image
from tests.lab.bootcheck import boot
from tests.lab.images import PVImageSpec, build_pv_image
from tests.lab.system import loop_device, mounted, run

pytestmark = [pytest.mark.root, pytest.mark.qemu]

I386_GUEST = PVImageSpec(size_mib=1024, data_device="", architecture="i386")


def test_i386_guest_converts_from_an_amd64_host_and_boots_32_bit(tmp_path: Path) -> None:
    image = build_pv_image(I386_GUEST)
    assert all(version.endswith("-686-pae") for version in image.kernel_versions) and len(image.kernel_versions) == 2, \
        image.kernel_versions

    unconverted = boot(image.disk, "nvme", log_dir=tmp_path / "boot-unconverted")
    assert not unconverted.booted and unconverted.reason.startswith("no bootable device: "), unconverted.reason

    dest = tmp_path / "hvm.img"
    convert_image(image.disk, dest, tmp_path / "convert_image.log")

    with loop_device(dest, partitions=True) as device, mounted(f"{device}p1", read_only=True) as root:
        fs_uuid = run(["blkid", "-p", "-s", "UUID", "-o", "value", f"{device}p1"]).strip()
        grub_pc = run(["chroot", str(root), "dpkg-query", "-W", "-f", "${Architecture}", "grub-pc"])
        assert grub_pc == "i386", f"grub-pc of architecture {grub_pc!r} in the i386 guest"
        modules = (root / "etc/initramfs-tools/modules").read_text(encoding="utf-8")
        assert {"xen-blkfront", "nvme", "ext4"} <= set(modules.split()), modules

    for result in boots_as_hvm(dest, image, fs_uuid, tmp_path, buses=("nvme",)).values():
        assert result.probe["machine"] == "i686", result.probe["machine"]
        assert result.probe["init"] == "systemd", result.probe["init"]
        # 4294967295 * HZ wraps a 32-bit kernel's jiffies: every NVMe I/O would time out at once (EIO).
        assert "nvme_core.io_timeout=8589934" in result.probe["cmdline"].split(), result.probe["cmdline"]
