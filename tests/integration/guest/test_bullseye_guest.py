"""A Debian 11 (bullseye) PV guest, the release many PV fleets still run: Linux 5.10 (its cloud kernels
5.10.0-32 and 5.10.0-30), grub-pc from bullseye's own archive, systemd 247.

convert_image.yml must take bullseye's packages and tools (the GRUB it installs comes from the image's
bullseye sources) and the boot must come up on NVMe with the newest 5.10 kernel, the root by UUID, the
serial console and the NVMe timeout that 5.10 understands (IDE: the bookworm boot of the same boot loader and
initramfs tool covers it, tests/boot_matrix.py). The unconverted image does not boot (negative control).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.guest.conftest import boots_as_hvm, convert_image
from tests.lab.bootcheck import boot
from tests.lab.images import PVImageSpec, build_pv_image
from tests.lab.system import loop_device, mounted, run

pytestmark = [pytest.mark.root, pytest.mark.qemu]

BULLSEYE_GUEST = PVImageSpec(suite="bullseye", size_mib=1024, data_device="")


def test_bullseye_guest_converts_and_boots_its_newest_510_kernel(tmp_path: Path) -> None:
    image = build_pv_image(BULLSEYE_GUEST)
    assert [version.split("-")[0] for version in image.kernel_versions] == ["5.10.0", "5.10.0"], image.kernel_versions

    unconverted = boot(image.disk, "ide", log_dir=tmp_path / "boot-unconverted")
    assert not unconverted.booted and unconverted.reason.startswith("no bootable device: "), unconverted.reason

    dest = tmp_path / "hvm.img"
    convert_image(image.disk, dest, tmp_path / "convert_image.log")

    with loop_device(dest, partitions=True) as device, mounted(f"{device}p1", read_only=True) as root:
        fs_uuid = run(["blkid", "-p", "-s", "UUID", "-o", "value", f"{device}p1"]).strip()
        os_release = (root / "etc/os-release").read_text(encoding="utf-8")
        assert 'VERSION_ID="11"' in os_release, os_release
        grub_pc = run(["chroot", str(root), "dpkg-query", "-W", "-f", "${Version}", "grub-pc"])
        assert "deb11" in grub_pc, f"grub-pc {grub_pc} is not bullseye's"
        for kernel in image.kernel_versions:
            assert (root / f"boot/initrd.img-{kernel}").is_file(), kernel
        listed = set((root / "etc/initramfs-tools/modules").read_text(encoding="utf-8").split())
        assert {"xen-blkfront", "ena"} <= listed, listed
        for kernel in image.kernel_versions:
            builtin = {Path(line).name.removesuffix(".ko").replace("-", "_")
                       for line in (root / "lib/modules" / kernel / "modules.builtin").read_text(encoding="utf-8").split()}
            # Debian's 5.10 cloud kernels have nvme and ext4 built in: then nothing is to be listed for them.
            assert all(driver in listed or driver.replace("-", "_") in builtin for driver in ("xen-blkfront", "nvme", "ena", "ext4")), \
                (kernel, listed)

    for result in boots_as_hvm(dest, image, fs_uuid, tmp_path, buses=("nvme",)).values():
        probe = result.probe
        assert probe["kernel"] == "5.10.0-32-cloud-amd64", (probe["kernel"], image.kernel_versions)
        assert probe["init"] == "systemd", probe["init"]
        assert "nvme_core.io_timeout=4294967295" in probe["cmdline"].split(), probe["cmdline"]
